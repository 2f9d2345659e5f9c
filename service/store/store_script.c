/*
 * store_script: the Lua script texts (see store_script.h for the reply
 * contract they share). Each is loaded once per connection by store_conn
 * (SCRIPT LOAD) and run by SHA, or by source after NOSCRIPT.
 */
#include "store_script.h"

/* KEYS: session, lock, linked session (the session key again when no link
 * was asked for). ARGV: token, lock_ms, '1' to read the link, lockout key
 * prefix, lockout max.
 * With a link, the linked session is read (never written) in the same
 * script that creates the new one, with whether its customer is locked
 * out now: {'ok', linked hash or {}, locked}. A lockout counter that is
 * not a number counts as locked (the safe reading). */
static const char script_create[] =
    "local t = redis.call('TYPE', KEYS[1]).ok\n"
    "if t == 'hash' then\n"
    "  return {'exists', redis.call('HGETALL', KEYS[1])}\n"
    "elseif t ~= 'none' then\n"
    "  return {'corrupt'}\n"
    "end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {'busy'}\n"
    "end\n"
    "if ARGV[3] ~= '1' or redis.call('TYPE', KEYS[3]).ok ~= 'hash' then\n"
    "  return {'ok', {}, 0}\n"
    "end\n"
    "local locked = 0\n"
    "local cid = redis.call('HGET', KEYS[3], 'customerId')\n"
    "if cid and cid ~= '' then\n"
    "  local n = redis.pcall('GET', ARGV[4] .. cid)\n"
    "  if type(n) == 'table' or (n and not string.match(n, '^%d+$')) or\n"
    "     tonumber(n or '0') >= tonumber(ARGV[5]) then\n"
    "    locked = 1\n"
    "  end\n"
    "end\n"
    "return {'ok', redis.call('HGETALL', KEYS[3]), locked}\n";

/* KEYS: session, lock. ARGV: token, lock_ms, counter field or '',
 * lockout key prefix, lockout max, allowed state names..., lockout window.
 * A verify attempt also counts a lockout failure for the customer here,
 * before the CRM is asked, so parallel guesses across sessions cannot all
 * reach the CRM before the first failure is recorded; the lock's value
 * becomes "<token>:r" to tell commit that a failure is reserved (commit
 * keeps it for a wrong answer, clears the counter on success, and gives it
 * back when no verification failed: CRM error, invalid input).
 * The lockout key is built here, not passed in KEYS, because the customer
 * is only known from the hash; that is fine on a single master (and with
 * Sentinel) but would not be on Redis Cluster.
 * Whatever can fail once the lock is taken (a lockout counter or attempt
 * counter that is not an integer) is caught, the lock let go again and
 * 'corrupt' returned; the increment is the last write. */
static const char script_begin[] =
    "local t = redis.call('TYPE', KEYS[1]).ok\n"
    "if t == 'none' then return {'not_found'} end\n"
    "if t ~= 'hash' then return {'corrupt'} end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {'busy'}\n"
    "end\n"
    "local state = redis.call('HGET', KEYS[1], 'state')\n"
    "local allowed = false\n"
    "for i = 6, #ARGV - 1 do if ARGV[i] == state then allowed = true end end\n"
    "if not allowed then\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  return {'wrong_state', redis.call('HGETALL', KEYS[1])}\n"
    "end\n"
    "local locked = 0\n"
    "local cid = redis.call('HGET', KEYS[1], 'customerId')\n"
    "if cid and cid ~= '' then\n"
    "  local n = redis.pcall('GET', ARGV[4] .. cid)\n"
    "  if type(n) == 'table' or (n and not string.match(n, '^%d+$')) then\n"
    "    redis.call('DEL', KEYS[2])\n"
    "    return {'corrupt'}\n"
    "  end\n"
    "  if tonumber(n or '0') >= tonumber(ARGV[5]) then locked = 1 end\n"
    "end\n"
    "if ARGV[3] ~= '' then\n"
    "  local c = redis.call('HGET', KEYS[1], ARGV[3])\n"
    "  local r = c and string.match(c, '^%d+$') and\n"
    "            redis.pcall('HINCRBY', KEYS[1], ARGV[3], 1)\n"
    "  if type(r) ~= 'number' then\n"
    "    redis.call('DEL', KEYS[2])\n"
    "    return {'corrupt'}\n"
    "  end\n"
    "end\n"
    "if ARGV[3] == 'verifyAttempts' and locked == 0 and cid and cid ~= '' "
    "then\n"
    "  local lk = ARGV[4] .. cid\n"
    "  if redis.call('INCR', lk) == 1 or redis.call('TTL', lk) < 0 then\n"
    "    redis.call('EXPIRE', lk, ARGV[#ARGV])\n"
    "  end\n"
    "  redis.call('SET', KEYS[2], ARGV[1] .. ':r', 'XX', 'KEEPTTL')\n"
    "end\n"
    "return {'ok', redis.call('HGETALL', KEYS[1]), locked}\n";

/* KEYS: session, lock, lockout counter, report hour hash, report stream,
 * report dropped counter. ARGV: token, ttl, effect ('none'|'fail'|'clear'),
 * check_lockout ('0'|'1'), lockout max, window seconds, R, then R report
 * arguments, then field, value, ... of the session.
 * Report arguments (R = 0: record nothing): counter ttl, N, N pairs of
 * (hash field, increment), stream max length, stream min ID, E, E pairs of
 * (event field, value). Recording runs after the session is written and
 * uses pcall: a report key of the wrong type, or any other recording
 * error, must not fail the caller's step; it is counted in the dropped
 * counter and reported as the reply's second element ('1').
 * A lockout counter that is not an integer is found before any write:
 * 'corrupt', the lock let go, nothing written. The lockout window starts
 * at the first failure: EXPIRE is set only when INCR made the key (or,
 * defensively, if it somehow has no TTL), never pushed back by later
 * failures. */
static const char script_commit[] =
    "local held = redis.call('GET', KEYS[2])\n"
    "if held ~= ARGV[1] and held ~= ARGV[1] .. ':r' then\n"
    "  return {'lock_lost'}\n"
    "end\n"
    "local reserved = held ~= ARGV[1]\n"
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
    "redis.call('DEL', KEYS[1])\n"
    "local rn = tonumber(ARGV[7])\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 8 + rn))\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
    "if ARGV[3] == 'fail' and not reserved then\n"
    "  local n = redis.call('INCR', KEYS[3])\n"
    "  if n == 1 or redis.call('TTL', KEYS[3]) < 0 then\n"
    "    redis.call('EXPIRE', KEYS[3], ARGV[6])\n"
    "  end\n"
    "elseif ARGV[3] == 'clear' then\n"
    "  redis.call('DEL', KEYS[3])\n"
    "elseif ARGV[3] ~= 'fail' and reserved then\n"
    "  local n = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
    "  if n > 0 then redis.call('DECR', KEYS[3]) end\n"
    "end\n"
    "redis.call('DEL', KEYS[2])\n"
    "if rn == 0 then return {'ok', '0'} end\n"
    "local failed = false\n"
    "local function bad(x) return type(x) == 'table' and x.err ~= nil end\n"
    "local nc, i = tonumber(ARGV[9]), 10\n"
    "for _ = 1, nc do\n"
    "  if bad(redis.pcall('HINCRBY', KEYS[4], ARGV[i], ARGV[i + 1])) then\n"
    "    failed = true\n"
    "  end\n"
    "  i = i + 2\n"
    "end\n"
    "if nc > 0 and bad(redis.pcall('EXPIRE', KEYS[4], ARGV[8])) then\n"
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
    "  end\n"
    "end\n"
    "if failed then\n"
    "  redis.pcall('INCR', KEYS[6])\n"
    "  return {'ok', '1'}\n"
    "end\n"
    "return {'ok', '0'}\n";

/* KEYS: lock. ARGV: token. */
static const char script_release[] =
    "local held = redis.call('GET', KEYS[1])\n"
    "if held == ARGV[1] or held == ARGV[1] .. ':r' then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return {'ok'}\n"
    "end\n"
    "return {'lock_lost'}\n";

/* KEYS: session. */
static const char script_get[] =
    "local t = redis.call('TYPE', KEYS[1]).ok\n"
    "if t == 'none' then return {'not_found'} end\n"
    "if t ~= 'hash' then return {'corrupt'} end\n"
    "return {'ok', redis.call('HGETALL', KEYS[1])}\n";

/* KEYS: session, lock. */
static const char script_delete[] = "local n = redis.call('DEL', KEYS[1])\n"
                                    "redis.call('DEL', KEYS[2])\n"
                                    "if n == 0 then return {'not_found'} end\n"
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
