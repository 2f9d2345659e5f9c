# Turn the file IN into a C source OUT defining
#   const unsigned char <NAME>[] (NUL-terminated) and const size_t <NAME>_len
# so the binary serves it with no file on disk.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT}.tmp "/* Generated from ${IN} by embed.cmake; do not edit. */
#include <stddef.h>
extern const unsigned char ${NAME}[];
extern const size_t ${NAME}_len;
const unsigned char ${NAME}[] = {
${bytes}0x00};
const size_t ${NAME}_len = sizeof ${NAME} - 1;
")
file(RENAME ${OUT}.tmp ${OUT})
