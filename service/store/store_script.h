/*
 * store_script: the Lua scripts behind every store operation but PING and
 * the report reads, and their source texts.
 *
 * Contract shared by every script: it returns an array whose first element
 * is a status word (one of the store_status names: "ok", "busy", ...) and
 * whose second, when present, is the session: its packed value (a bulk
 * string, store_codec.h), or, for a session the previous version wrote as
 * a hash, that hash as HGETALL gives it.
 * Redis does not roll a script back when it fails half way, so each script
 * checks whatever could fail before its first write. The KEYS and ARGV each
 * script takes are documented beside its text in store_script.c.
 *
 * Internal to service/store: callers use store.h.
 */
#ifndef AUTHFLOW_STORE_SCRIPT_H
#define AUTHFLOW_STORE_SCRIPT_H

#include <stdbool.h>

/* How long an idempotent script's answer is kept under its token: longer
 * than any operation is resent (each stops at its step's deadline, at most
 * the Genesys action timeout) or a copy of it can still reach Redis. */
#define STORE_IDEM_TTL_SECONDS 60
#define STORE_IDEM_TTL_TEXT "60"

typedef enum {
  STORE_SCRIPT_CREATE = 0,
  STORE_SCRIPT_BEGIN,
  STORE_SCRIPT_COMMIT,
  STORE_SCRIPT_RELEASE,
  STORE_SCRIPT_GET,
  STORE_SCRIPT_DELETE,
  STORE_SCRIPT_HANDOFF_PUT,
  STORE_SCRIPT_HANDOFF_TAKE,
  STORE_SCRIPT_OTP_SEND, /* one-time code send limits (store_otp.c) */
  STORE_SCRIPT_COUNT
} store_script_id;

/* The Lua source of script `id` (static storage; never NULL for an id
 * below STORE_SCRIPT_COUNT). */
const char *store_script_source(store_script_id id);

/* Whether script `id` is applied at most once per token (see IDEM_OPEN in
 * store_script.c): every script that writes. Its caller appends the
 * operation's idempotency key as the last KEY and sends the same key with
 * every copy of the command. RELEASE (it only deletes a lock that still
 * holds its token) and GET (it only reads) can run again as they are. */
bool store_script_idempotent(store_script_id id);

#endif
