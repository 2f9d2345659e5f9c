/*
 * store_call: a session operation as data. Each operation is split into a
 * request (which script, its keys, then its args) built by a store_call_*
 * builder, and the reading of its reply (store_call_read), so the blocking
 * functions of store.h and the loop ones of store_async.h send the same
 * script with the same arguments and read its answer the same way.
 *
 * A built call's argv points into the call itself (keys and numbers are
 * written into its text area) and into what the builder was given (token,
 * session strings, report record): those must outlive the call's use.
 *
 * Internal to service/store: callers use store.h and store_async.h.
 */
#ifndef AUTHFLOW_STORE_CALL_H
#define AUTHFLOW_STORE_CALL_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "store_async.h"
#include "store_codec.h"
#include "store_report.h"
#include "store_script.h"

/* How a call's reply is read (see store_call_read). */
typedef enum {
  STORE_READ_CREATE = 0,
  STORE_READ_BEGIN,
  STORE_READ_COMMIT,
  STORE_READ_RELEASE,
  STORE_READ_GET,
  STORE_READ_DELETE,
  STORE_READ_HANDOFF_TAKE,
} store_read_kind;

/* The most keys and args one call has (commit: 9 keys, 12 head args, the
 * report args and the packed session). */
#define STORE_CALL_ARGV_MAX (13 + 12 + STORE_REPORT_ARGS_MAX + 1)
/* Room for every key, number and packed session a call writes into its
 * own text area. */
#define STORE_CALL_TEXT_MAX 8192

typedef struct {
  store_script_id script;
  store_read_kind read;
  bool want_link; /* create: a linked session was asked for */
  bool bad;       /* the text area overflowed (a bug: sized for the most) */
  int nkeys;      /* argv[0 .. nkeys) are keys, the rest args */
  int argc;
  const char *argv[STORE_CALL_ARGV_MAX];
  size_t used;
  char text[STORE_CALL_TEXT_MAX];
  store_report_texts report_texts;
} store_call;

/* Start an empty call of script `id`, read as `read`. */
void store_call_start(store_call *c, store_script_id id, store_read_kind read);

/* Append the key "<prefix><kind>:<id>" (keys come before any arg). False
 * (err filled) when it is too long: a truncated key could name another
 * conversation's record. */
bool store_call_key(store_call *c, const char *kind, const char *id, char *err,
                    size_t err_len);

/* Append "<prefix><kind>:<id>" as an arg (a key the script builds on, or
 * names without declaring it). False (err filled) when too long. */
bool store_call_key_arg(store_call *c, const char *kind, const char *id,
                        char *err, size_t err_len);

/* Append an already built key (keys come before any arg). */
void store_call_raw_key(store_call *c, const char *key);

/* STORE_OK, or STORE_UNAVAILABLE (err filled) when the call overflowed. */
store_status store_call_built(const store_call *c, char *err, size_t err_len);

/* Append an arg that points to `s` (it must outlive the call). */
void store_call_arg(store_call *c, const char *s);

/* The decimal text of v, written into the call's text area. */
const char *store_call_num(store_call *c, long long v);

/* Append the decimal text of v as an arg. */
void store_call_int(store_call *c, long long v);

/*
 * Write the Redis protocol (RESP) form of the command argv[0 .. argc)
 * (lens: their lengths) to out[0 .. cap): what hiredis's
 * redisFormatCommandArgv makes, without its sprintf per argument. Returns
 * the length it needs; when that exceeds cap nothing useful was written
 * and the caller calls again with room for it.
 */
size_t store_call_format(int argc, const char *const *argv, const size_t *lens,
                         char *out, size_t cap);

/* Session *s packed (store_codec.h), written into the call's text area;
 * NULL (err filled) when it holds a value that could not be read back. */
const char *store_call_pack(store_call *c, const flow_session *s, char *err,
                            size_t err_len);

/*
 * The builders: fill *c for the operation of the same name in store.h.
 * STORE_OK when built; otherwise the status the operation ends with, err
 * filled and nothing to send: STORE_UNAVAILABLE for a key too long, and
 * for commit STORE_CORRUPT when the session holds a value that could not
 * be read back (the caller then lets the lock go: see store_commit).
 */
store_status store_call_create(store_call *c, const char *id, const char *token,
                               const char *linked_id, char *err,
                               size_t err_len);
store_status store_call_begin(store_call *c, const char *id, const char *token,
                              unsigned allowed_states,
                              flow_attempt_counter counter, char *err,
                              size_t err_len);
store_status store_call_commit(store_call *c, const flow_session *s,
                               const char *token, flow_lockout_effect lockout,
                               bool check_lockout, const report_record *rec,
                               char *err, size_t err_len);
store_status store_call_release(store_call *c, const char *id,
                                const char *token, char *err, size_t err_len);
/* A release of the lock a begin call (`begin`'s argv: its second key is
 * the lock, its first arg the token) took: for a reader's *let_go. */
void store_call_let_go(store_call *c, const char *const *begin_argv,
                       int begin_nkeys);
store_status store_call_get(store_call *c, const char *id, char *err,
                            size_t err_len);
store_status store_call_delete(store_call *c, const char *id, char *err,
                               size_t err_len);
store_status store_call_handoff_take(store_call *c, const char *digest,
                                     const char *service_line,
                                     const char *number_digest, char *err,
                                     size_t err_len);

/*
 * Read the script reply r (an array whose first element is the status
 * word: see store_reply_is_script) of a call read as `read` into *out:
 * status, err and the fields the operation names (store_async.h). For
 * `read` STORE_READ_CREATE, want_link says whether a link was asked for.
 * *let_go becomes true when the script took the lock but the record it
 * returned cannot be read (begin): the caller must release the lock, the
 * operation's caller has nothing to release.
 */
void store_call_read(store_read_kind read, bool want_link, const redisReply *r,
                     store_result *out, bool *let_go);

/*
 * Run call c, whose builder returned `built`, on this thread's blocking
 * connection (store_conn) and read its reply into *res (zeroed by the
 * caller); a builder failure ends it there. A begin that took a lock on a
 * record it cannot read lets it go here. Copies res->err to err when set
 * (err may be NULL with err_len 0); returns res->status.
 */
store_status store_call_run(store_status built, store_call *c,
                            store_result *res, char *err, size_t err_len);

/* The readers behind store_call_read (same contract). */
void store_read_create(const redisReply *r, bool want_link, store_result *out);
void store_read_begin(const redisReply *r, store_result *out, bool *let_go);
void store_read_commit(const redisReply *r, store_result *out);
void store_read_release(const redisReply *r, store_result *out);
void store_read_get(const redisReply *r, store_result *out);
void store_read_delete(const redisReply *r, store_result *out);
void store_read_handoff_take(const redisReply *r, store_result *out);

#endif
