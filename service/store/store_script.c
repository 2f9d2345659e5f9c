/*
 * store_script: the Lua script texts (see store_script.h for the reply
 * contract they share). Each is loaded once per connection by store_conn
 * (SCRIPT LOAD) and run by SHA, or by source after NOSCRIPT.
 */
#include "store_script.h"

/* Lua shared by the scripts that read a session (prepended to their
 * text): head(v) reads the packed value's header (see store_codec.h):
 * state, the position of identifyAttempts, both attempt counters, the
 * ANI hash and the customer id; nil when v does not start as a packed
 * session does. The counters are at most 9 digits, so adding one stays
 * an integer. */
#define SCRIPT_HEAD                                                            \
  "local function head(v)\n"                                                   \
  "  local st, pi, ia, va, p =\n"                                              \
  "    string.match(v, '^1|([%l_]+)|()(%d%d?%d?%d?%d?%d?%d?%d?%d?)|'..\n"      \
  "                    '(%d%d?%d?%d?%d?%d?%d?%d?%d?)|()')\n"                   \
  "  if not st then return nil end\n"                                          \
  "  local hl, hp = string.match(v, '^(%d%d?%d?):()', p)\n"                    \
  "  if not hl then return nil end\n"                                          \
  "  local q = hp + tonumber(hl)\n"                                            \
  "  local cl, cp = string.match(v, '^|(%d%d?%d?):()', q)\n"                   \
  "  if not cl then return nil end\n"                                          \
  "  return st, pi, ia, va, string.sub(v, hp, q - 1),\n"                       \
  "         string.sub(v, cp, cp + tonumber(cl) - 1)\n"                        \
  "end\n"

/* KEYS: session, lock, linked session (the session key again when no link
 * was asked for), tombstone. ARGV: token, lock_ms, '1' to read the link,
 * lockout key prefix, lockout max.
 * A session is one packed string (store_codec.h); one written by the
 * previous version is a hash (HGETALL answers it; the commit replaces it
 * with the packed form). Any other type is 'corrupt'.
 * A conversation deleted within the session TTL left a tombstone: it may
 * not start again ('deleted'), so DELETE cannot buy fresh attempts.
 * With a link, the linked session is read (never written) in the same
 * script that creates the new one, with whether its customer is locked
 * out now: {'ok', linked value or {}, locked}. A linked value whose header
 * cannot be read is no link ({}). A lockout counter that is not a number
 * counts as locked (the safe reading). */
static const char script_create[] = SCRIPT_HEAD
    "local v = redis.pcall('GET', KEYS[1])\n"
    "if type(v) == 'table' then\n"
    "  if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return {'corrupt'} "
    "end\n"
    "  return {'exists', redis.call('HGETALL', KEYS[1])}\n"
    "elseif v then\n"
    "  return {'exists', v}\n"
    "end\n"
    "if redis.call('EXISTS', KEYS[4]) == 1 then return {'deleted'} end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {'busy'}\n"
    "end\n"
    "if ARGV[3] ~= '1' then return {'ok', {}, 0} end\n"
    "local l, cid = redis.pcall('GET', KEYS[3]), nil\n"
    "if type(l) == 'table' then\n"
    "  if redis.call('TYPE', KEYS[3]).ok ~= 'hash' then return {'ok', {}, 0} "
    "end\n"
    "  cid = redis.call('HGET', KEYS[3], 'customerId')\n"
    "  l = redis.call('HGETALL', KEYS[3])\n"
    "elseif l then\n"
    "  local st, _, _, _, _, c = head(l)\n"
    "  if not st then return {'ok', {}, 0} end\n"
    "  cid = c\n"
    "else\n"
    "  return {'ok', {}, 0}\n"
    "end\n"
    "local locked = 0\n"
    "if cid and cid ~= '' then\n"
    "  local n = redis.pcall('GET', ARGV[4] .. cid)\n"
    "  if type(n) == 'table' or (n and not string.match(n, '^%d+$')) or\n"
    "     tonumber(n or '0') >= tonumber(ARGV[5]) then\n"
    "    locked = 1\n"
    "  end\n"
    "end\n"
    "return {'ok', l, locked}\n";

/* KEYS: session, lock. ARGV: 1 token, 2 lock_ms, 3 counter field or '',
 * 4 lockout key prefix, 5 lockout max, 6 failure memory (seconds the
 * failures count, from the first; see script_commit), 7 global limit
 * key, 8 global limit (0 = off), 9 caller limit key prefix, 10 caller
 * limit (0 = off), 11 caller window, 12.. allowed state names.
 * The session is read with one GET and its header with head(): a value
 * whose header cannot be read is 'corrupt' before the lock is taken. A
 * hash (written by the previous version) is read with HMGET/HGETALL and
 * its counter counted with HINCRBY, as that version did.
 * A verify attempt also counts a lockout failure for the customer here,
 * before the CRM is asked, so parallel guesses across sessions cannot all
 * reach the CRM before the first failure is recorded; the lock's value
 * becomes "<token>:r" to tell commit that a failure is reserved (commit
 * keeps it for a wrong answer, clears the counter on success, and gives it
 * back when no verification failed: nothing sent, invalid input), or
 * "<token>:R" when this failure is the one that reaches the limit (commit
 * then starts the lockout, see script_commit). The same reservation is
 * made on the per-caller failure counter (a fixed window from its first
 * failure). The global counter is NOT reserved here, only counted by
 * commit when a verification failed: reserving it would count every
 * verification in flight as a failure, so a few hundred callers waiting on
 * a slow CRM would trip the global limit without one wrong answer; a
 * per-minute limit over all customers can afford to overshoot by the
 * verifications in flight. A verify finding either at its limit is held
 * like a locked customer and the reply's fourth element names the limit
 * ('global' or 'caller'; '' for none).
 * The lockout and caller keys are built here, not passed in KEYS, because
 * the customer and the caller's hash are only known from the session;
 * that is fine on a single master (and with Sentinel) but would not be on
 * Redis Cluster.
 * Whatever can fail once the lock is taken (a lockout counter or a hash's
 * attempt counter that is not an integer) is caught, the lock let go
 * again and 'corrupt' returned; the increments are the last writes. The
 * attempt is counted by rewriting the packed value with the counter one
 * up (SET KEEPTTL). A global or caller counter that is not an integer
 * counts as 0 (pcall). */
static const char script_begin[] = SCRIPT_HEAD
    "local v = redis.pcall('GET', KEYS[1])\n"
    "local hash = type(v) == 'table'\n"
    "if hash and redis.call('TYPE', KEYS[1]).ok ~= 'hash' then\n"
    "  return {'corrupt'}\n"
    "end\n"
    "if not v then return {'not_found'} end\n"
    "local state, pi, ia, va, ah, cid\n"
    "if hash then\n"
    "  local f = redis.call('HMGET', KEYS[1], 'state', 'customerId', "
    "'aniHash')\n"
    "  state, cid, ah = f[1], f[2], f[3] or ''\n"
    "else\n"
    "  state, pi, ia, va, ah, cid = head(v)\n"
    "  if not state then return {'corrupt'} end\n"
    "end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {'busy'}\n"
    "end\n"
    "local function whole()\n"
    "  if hash then return redis.call('HGETALL', KEYS[1]) end\n"
    "  return v\n"
    "end\n"
    "local allowed = false\n"
    "for i = 12, #ARGV do if ARGV[i] == state then allowed = true end end\n"
    "if not allowed then\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  return {'wrong_state', whole()}\n"
    "end\n"
    "local function num(k)\n"
    "  local n = redis.pcall('GET', k)\n"
    "  if type(n) ~= 'string' or not string.match(n, '^%d+$') then return 0 "
    "end\n"
    "  return tonumber(n)\n"
    "end\n"
    "local function bump(k, ttl)\n"
    "  local n = redis.pcall('INCR', k)\n"
    "  if n == 1 or redis.call('TTL', k) < 0 then redis.pcall('EXPIRE', k, "
    "ttl) end\n"
    "  return n\n"
    "end\n"
    "local locked, limit, max = 0, '', tonumber(ARGV[5])\n"
    "if cid and cid ~= '' then\n"
    "  local n = redis.pcall('GET', ARGV[4] .. cid)\n"
    "  if type(n) == 'table' or (n and not string.match(n, '^%d+$')) then\n"
    "    redis.call('DEL', KEYS[2])\n"
    "    return {'corrupt'}\n"
    "  end\n"
    "  if tonumber(n or '0') >= max then locked = 1 end\n"
    "end\n"
    "local verify = ARGV[3] == 'verifyAttempts' and cid and cid ~= ''\n"
    "local gmax, cmax = tonumber(ARGV[8]), tonumber(ARGV[10])\n"
    "local ck = ''\n"
    "if cmax > 0 and ah ~= '' then ck = ARGV[9] .. ah end\n"
    "if verify and locked == 0 then\n"
    "  if gmax > 0 and num(ARGV[7]) >= gmax then\n"
    "    locked, limit = 1, 'global'\n"
    "  elseif ck ~= '' and num(ck) >= cmax then\n"
    "    locked, limit = 1, 'caller'\n"
    "  end\n"
    "end\n"
    "if ARGV[3] ~= '' and hash then\n"
    "  local c = redis.call('HGET', KEYS[1], ARGV[3])\n"
    "  local r = c and string.match(c, '^%d+$') and\n"
    "            redis.pcall('HINCRBY', KEYS[1], ARGV[3], 1)\n"
    "  if type(r) ~= 'number' then\n"
    "    redis.call('DEL', KEYS[2])\n"
    "    return {'corrupt'}\n"
    "  end\n"
    "elseif ARGV[3] ~= '' then\n"
    "  local tail = string.sub(v, pi + #ia + 1 + #va)\n"
    "  if ARGV[3] == 'identifyAttempts' then\n"
    "    ia = tonumber(ia) + 1\n"
    "  else\n"
    "    va = tonumber(va) + 1\n"
    "  end\n"
    "  v = string.sub(v, 1, pi - 1) .. ia .. '|' .. va .. tail\n"
    "  redis.call('SET', KEYS[1], v, 'KEEPTTL')\n"
    "end\n"
    "if verify and locked == 0 then\n"
    "  local lk = ARGV[4] .. cid\n"
    "  local n = redis.call('INCR', lk)\n"
    "  if n == 1 or redis.call('TTL', lk) < 0 then\n"
    "    redis.call('EXPIRE', lk, ARGV[6])\n"
    "  end\n"
    "  if ck ~= '' then bump(ck, ARGV[11]) end\n"
    "  local mark = ':r'\n"
    "  if n >= max then mark = ':R' end\n"
    "  redis.call('SET', KEYS[2], ARGV[1] .. mark, 'XX', 'KEEPTTL')\n"
    "end\n"
    "return {'ok', whole(), locked, limit}\n";

/* KEYS: 1 session, 2 lock, 3 lockout counter, 4 report hour hash, 5 report
 * stream, 6 report dropped counter, 7 the customer's lockout count, 8 the
 * global failure counter, 9 the caller's failure counter, 10-12 the event's
 * filter index streams (outcome, service line, channel), 13 the "indexed
 * since" marker. ARGV: 1 token,
 * 2 ttl, 3 effect ('none'|'fail'|'clear'), 4 check_lockout ('0'|'1'),
 * 5 lockout max, 6 window seconds, 7 max lock seconds, 8 escalation reset
 * seconds, 9 global limit on ('0'|'1'), 10 caller limit on ('0'|'1'),
 * 11 failure memory seconds, 12 R, then R report arguments, then the
 * packed session (store_codec.h), which replaces whatever is at the
 * session key (a hash written by the previous version included).
 * Report arguments (R = 0: record nothing): counter ttl, N, N pairs of
 * (hash field, increment), stream max length, stream min ID, E, E pairs of
 * (event field, value). Recording runs after the session is written and
 * uses pcall: a report key of the wrong type, or any other recording
 * error, must not fail the caller's step; it is counted in the dropped
 * counter and reported as the reply's second element ('1').
 * A lockout counter that is not an integer is found before any write:
 * 'corrupt', the lock let go, nothing written. Failures count for the
 * failure memory from the first one: EXPIRE is set only when INCR made the
 * key (or, defensively, if it somehow has no TTL), never pushed back by
 * later failures. The memory is longer than a lockout (by default a day
 * against 15 minutes), so a guesser who stays just under the limit in
 * each lockout window still reaches it; a success clears the count. A kept
 * failure reserved as ':R' (it reached the limit) starts a lockout: the
 * customer's lockout count goes up (kept for the reset time) and the counter's
 * TTL becomes window * 2^(count-1), capped at the max lock; the reply's third
 * element is the count ('0' otherwise). A success clears both. A reservation
 * not kept as a failure gives the caller counter back too; a kept failure
 * is counted on the global counter (a fixed minute from its first). */
static const char script_commit[] =
    "local held, tok = redis.call('GET', KEYS[2]), ARGV[1]\n"
    "if held ~= tok and held ~= tok .. ':r' and held ~= tok .. ':R' then\n"
    "  return {'lock_lost'}\n"
    "end\n"
    "local reserved = held ~= tok\n"
    "local cur = false\n"
    "if ARGV[3] == 'fail' or ARGV[4] == '1' then\n"
    "  cur = redis.call('GET', KEYS[3])\n"
    "  if cur and not string.match(cur, '^%d+$') then\n"
    "    redis.call('DEL', KEYS[2])\n"
    "    return {'corrupt'}\n"
    "  end\n"
    "end\n"
    "if ARGV[4] == '1' and tonumber(cur or '0') >= tonumber(ARGV[5]) then\n"
    "  return {'customer_locked'}\n"
    "end\n"
    "local rn = tonumber(ARGV[12])\n"
    "redis.call('SET', KEYS[1], ARGV[13 + rn], 'EX', ARGV[2])\n"
    "local started = '0'\n"
    "local function giveback(k)\n"
    "  local n = redis.pcall('GET', k)\n"
    "  if type(n) == 'string' and string.match(n, '^%d+$') and tonumber(n) > 0 "
    "then\n"
    "    redis.pcall('DECR', k)\n"
    "  end\n"
    "end\n"
    "if ARGV[3] == 'fail' and not reserved then\n"
    "  local n = redis.call('INCR', KEYS[3])\n"
    "  if n == 1 or redis.call('TTL', KEYS[3]) < 0 then\n"
    "    redis.call('EXPIRE', KEYS[3], ARGV[11])\n"
    "  end\n"
    "elseif ARGV[3] == 'fail' and held == tok .. ':R' then\n"
    "  local lv = redis.pcall('INCR', KEYS[7])\n"
    "  if type(lv) ~= 'number' then\n"
    "    redis.call('DEL', KEYS[7])\n"
    "    lv = redis.call('INCR', KEYS[7])\n"
    "  end\n"
    "  local d, cap = tonumber(ARGV[6]), tonumber(ARGV[7])\n"
    "  for _ = 2, lv do\n"
    "    if d >= cap then break end\n"
    "    d = d * 2\n"
    "  end\n"
    "  if d > cap then d = cap end\n"
    "  redis.call('EXPIRE', KEYS[3], d)\n"
    "  redis.call('EXPIRE', KEYS[7], ARGV[8])\n"
    "  started = tostring(lv)\n"
    "elseif ARGV[3] == 'clear' then\n"
    "  redis.call('DEL', KEYS[3], KEYS[7])\n"
    "elseif ARGV[3] ~= 'fail' and reserved then\n"
    "  giveback(KEYS[3])\n"
    "end\n"
    "if reserved and ARGV[3] ~= 'fail' and ARGV[10] == '1' then\n"
    "  giveback(KEYS[9])\n"
    "end\n"
    "if ARGV[3] == 'fail' and ARGV[9] == '1' then\n"
    "  local g = redis.pcall('INCR', KEYS[8])\n"
    "  if g == 1 or redis.call('TTL', KEYS[8]) < 0 then\n"
    "    redis.pcall('EXPIRE', KEYS[8], 60)\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', KEYS[2])\n"
    "if rn == 0 then return {'ok', '0', started} end\n"
    "local failed = false\n"
    "local function bad(x) return type(x) == 'table' and x.err ~= nil end\n"
    "local nc, i = tonumber(ARGV[14]), 15\n"
    "for _ = 1, nc do\n"
    "  if bad(redis.pcall('HINCRBY', KEYS[4], ARGV[i], ARGV[i + 1])) then\n"
    "    failed = true\n"
    "  end\n"
    "  i = i + 2\n"
    "end\n"
    "if nc > 0 and bad(redis.pcall('EXPIRE', KEYS[4], ARGV[13])) then\n"
    "  failed = true\n"
    "end\n"
    "local ne = tonumber(ARGV[i + 2])\n"
    "if ne > 0 then\n"
    "  local x = redis.pcall('XADD', KEYS[5], 'MAXLEN', '~', ARGV[i], '*',\n"
    "                        unpack(ARGV, i + 3, i + 2 + 2 * ne))\n"
    "  if bad(x) then\n"
    "    failed = true\n"
    "  else\n"
    "    redis.pcall('XTRIM', KEYS[5], 'MINID', '~', ARGV[i + 1])\n"
    "    for k = 10, 12 do\n"
    "      redis.pcall('XADD', KEYS[k], 'MAXLEN', '~', ARGV[i], x, 'i', '')\n"
    "    end\n"
    "    redis.pcall('SET', KEYS[13], x, 'NX')\n"
    "  end\n"
    "end\n"
    "if failed then\n"
    "  redis.pcall('INCR', KEYS[6])\n"
    "  return {'ok', '1', started}\n"
    "end\n"
    "return {'ok', '0', started}\n";

/* KEYS: lock. ARGV: token. */
static const char script_release[] =
    "local held = redis.call('GET', KEYS[1])\n"
    "if held == ARGV[1] or held == ARGV[1] .. ':r' or\n"
    "   held == ARGV[1] .. ':R' then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return {'ok'}\n"
    "end\n"
    "return {'lock_lost'}\n";

/* KEYS: session. The packed value, or a hash the previous version wrote
 * (HGETALL). */
static const char script_get[] =
    "local v = redis.pcall('GET', KEYS[1])\n"
    "if type(v) == 'table' then\n"
    "  if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return {'corrupt'} "
    "end\n"
    "  return {'ok', redis.call('HGETALL', KEYS[1])}\n"
    "end\n"
    "if not v then return {'not_found'} end\n"
    "return {'ok', v}\n";

/* KEYS: session, lock, tombstone. ARGV: session ttl. A deleted session
 * leaves a tombstone holding no customer data ("1") for the session TTL,
 * so the conversation cannot start again with fresh attempts. */
static const char script_delete[] =
    "local n = redis.call('DEL', KEYS[1])\n"
    "redis.call('DEL', KEYS[2])\n"
    "if n == 0 then return {'not_found'} end\n"
    "redis.call('SET', KEYS[3], '1', 'EX', ARGV[1])\n"
    "return {'ok'}\n";

/* KEYS: handoff. ARGV: ttl seconds, then field, value, ... A digest that
 * is already live (two codes colliding) is left alone: 'exists', and the
 * caller draws another code. */
static const char script_handoff_put[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 2))\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
    "return {'ok'}\n";

/* KEYS: handoff, failed-redemption counter. ARGV: max failures, window
 * seconds, the session's service line, the session's number digest.
 * The guess limit is checked first: at the limit nothing is looked at
 * ('limited'). Otherwise a live handoff whose line and number fit (an
 * empty one fits anything) is read and deleted in one go, so of any number
 * of racing redemptions exactly one gets it ('ok', hash). Anything else is
 * a failed redemption: counted in a fixed window that starts at the
 * window's first failure ('no_match', or 'tripped' for the failure that
 * reached the limit). A handoff that exists but does not fit is left for
 * its rightful caller. A counter that is not a number counts as the limit
 * (the safe reading). */
static const char script_handoff_take[] =
    "local n = redis.pcall('GET', KEYS[2])\n"
    "if type(n) == 'table' or (n and not string.match(n, '^%d+$')) then\n"
    "  return {'limited'}\n"
    "end\n"
    "if tonumber(n or '0') >= tonumber(ARGV[1]) then return {'limited'} end\n"
    "if redis.call('TYPE', KEYS[1]).ok == 'hash' then\n"
    "  local line = redis.call('HGET', KEYS[1], 'serviceLine') or ''\n"
    "  local num = redis.call('HGET', KEYS[1], 'numberDigest') or ''\n"
    "  if (line == '' or line == ARGV[3]) and (num == '' or num == ARGV[4])\n"
    "  then\n"
    "    local h = redis.call('HGETALL', KEYS[1])\n"
    "    redis.call('DEL', KEYS[1])\n"
    "    return {'ok', h}\n"
    "  end\n"
    "end\n"
    "local c = redis.call('INCR', KEYS[2])\n"
    "if c == 1 or redis.call('TTL', KEYS[2]) < 0 then\n"
    "  redis.call('EXPIRE', KEYS[2], ARGV[2])\n"
    "end\n"
    "if c == tonumber(ARGV[1]) then return {'tripped'} end\n"
    "return {'no_match'}\n";

static const char *const scripts[STORE_SCRIPT_COUNT] = {
    [STORE_SCRIPT_CREATE] = script_create,
    [STORE_SCRIPT_BEGIN] = script_begin,
    [STORE_SCRIPT_COMMIT] = script_commit,
    [STORE_SCRIPT_RELEASE] = script_release,
    [STORE_SCRIPT_GET] = script_get,
    [STORE_SCRIPT_DELETE] = script_delete,
    [STORE_SCRIPT_HANDOFF_PUT] = script_handoff_put,
    [STORE_SCRIPT_HANDOFF_TAKE] = script_handoff_take};

const char *store_script_source(store_script_id id) {
  return scripts[id];
}
