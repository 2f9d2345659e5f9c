/*
 * store_reply: reading the replies of the store's scripts. Every script
 * answers an array whose first element is its status word (the name of
 * the store_status it means: "ok", "busy", ...) and, for the operations
 * that return one, the session (its packed value, or the hash a session
 * written by the previous version still is: store_codec.h). One reader per
 * operation fills a store_result; the blocking (store_conn_run) and loop
 * (store_async_conn) sides read through the same ones.
 *
 * Internal to service/store: callers use store.h and store_async.h.
 */
#ifndef AUTHFLOW_STORE_REPLY_H
#define AUTHFLOW_STORE_REPLY_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "store_types.h"

/* How a call's reply is read (see store_reply_read). */
typedef enum {
  STORE_READ_CREATE = 0,
  STORE_READ_BEGIN,
  STORE_READ_COMMIT,
  STORE_READ_RELEASE,
  STORE_READ_GET,
  STORE_READ_DELETE,
  STORE_READ_HANDOFF_TAKE,
  STORE_READ_OTP_SEND, /* store_otp.c */
} store_read_kind;

/*
 * Read the script reply r (an array whose first element is the status
 * word: see store_reply_is_script) of a call read as `read` into *out:
 * status, err and the fields the operation names (store_async.h). For
 * `read` STORE_READ_CREATE, want_link says whether a link was asked for.
 * *let_go becomes true when the script took the lock but the record it
 * returned cannot be read (begin): the caller must release the lock, the
 * operation's caller has nothing to release.
 */
void store_reply_read(store_read_kind read, bool want_link, const redisReply *r,
                      store_result *out, bool *let_go);

/* The readers behind store_reply_read (same contract). */
void store_read_create(const redisReply *r, bool want_link, store_result *out);
void store_read_begin(const redisReply *r, store_result *out, bool *let_go);
void store_read_commit(const redisReply *r, store_result *out);
void store_read_release(const redisReply *r, store_result *out);
void store_read_get(const redisReply *r, store_result *out);
void store_read_delete(const redisReply *r, store_result *out);
void store_read_handoff_take(const redisReply *r, store_result *out);
void store_read_otp_send(const redisReply *r, store_result *out);

/* Whether r (may be NULL) is a ROLE reply that says master. */
bool store_reply_is_master(const redisReply *r);

/* Whether error reply text `msg` says this connection must not be used
 * again: the node is a replica now, still loading, or has lost its
 * master. The next command reconnects (through Sentinel, when
 * configured). Nothing ran. */
bool store_reply_fatal(const char *msg);

/* Whether r has the shape every script answers with: an array whose first
 * element is a string (the status word). */
bool store_reply_is_script(const redisReply *r);

/* Whether script reply r's status word is `word`. */
bool store_reply_said(const redisReply *r, const char *word);

/* A status word the caller did not expect (a script/code mismatch): err
 * filled, STORE_UNAVAILABLE. */
store_status store_reply_unexpected(const redisReply *r, char *err,
                                    size_t err_len);

#endif
