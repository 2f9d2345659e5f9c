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

/* The text of STORE_SCRIPT_OTP_SEND, kept beside its caller. */
extern const char store_otp_script_source[];

#endif
