-- wrk script: every connection walks complete calls with unique
-- conversation IDs, one step per request.
--   BENCH_PATH=ani (default): start with a known ANI -> security -> done
--   BENCH_PATH=identifier:    start, no ANI -> identifier -> security -> done
--   BENCH_PATH=start:         start only, no ANI (creates live sessions)
-- Each wrk thread keeps its own queue of next steps; a response pushes the
-- call's next step, request() sends queued steps first, else a new call.
local key = os.getenv("BENCH_KEY") or "bench-key-0000-0000"
local path = os.getenv("BENCH_PATH") or "ani"
local ani = os.getenv("BENCH_ANI") or "tel:+13175550116"
-- BENCH_ANI_COUNT=N: each call's ANI is one of N numbers, tel:+13176000000
-- upwards, and its identifier one of N customer IDs, 600000 upwards (the
-- bench's CRM stub has a customer for each), so concurrent calls rarely
-- verify the same customer at once (a customer's lockout limits that).
local ani_count = tonumber(os.getenv("BENCH_ANI_COUNT") or "0")
local customer = os.getenv("BENCH_CUSTOMER_ID") or "100234"
local answer = os.getenv("BENCH_ANSWER") or "1234"
local headers = {["Content-Type"] = "application/json",
                 ["Authorization"] = "Bearer " .. key}
local counter, prefix = 0, nil
local queue, head, tail = {}, 1, 0
-- Globals, so done() can read them from each thread with t:get().
-- fallbacks: answers that went to an agent because the CRM failed
-- ("lastResult":"crm_error"); unverified: calls that completed otherwise
-- than verified (the bench's calls all give the right answer).
errors, completed, fallbacks, unverified = 0, 0, 0, 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix = string.format("b%d-%d-%d", os.time(), thread_id or 0,
                         math.random(1, 1e9))
end

local function start_body(id)
  if path == "ani" then
    local number = ani
    if ani_count > 0 then
      number = string.format("tel:+1317%07d", 6000000 + counter % ani_count)
    end
    return string.format(
      '{"conversationId":"%s","ani":"%s","serviceLine":"bench"}', id, number)
  end
  return string.format('{"conversationId":"%s","serviceLine":"bench"}', id)
end

-- BENCH_RATE (steps/s over all connections) paces each connection with
-- wrk's delay(); BENCH_CONNECTIONS must then match wrk's -c.
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local conns = tonumber(os.getenv("BENCH_CONNECTIONS") or "1")
if rate > 0 then
  function delay()
    return conns * 1000 / rate
  end
end

function request()
  if head <= tail then
    local step = queue[head]
    queue[head] = nil
    head = head + 1
    return wrk.format("POST", step.url, headers, step.body)
  end
  counter = counter + 1
  local id = prefix .. "-" .. counter
  return wrk.format("POST", "/v1/sessions", headers, start_body(id))
end

local function push(url, body)
  tail = tail + 1
  queue[tail] = {url = url, body = body}
end

function response(status, hdrs, body)
  if status ~= 200 then
    errors = errors + 1
    return
  end
  if path == "start" then return end
  if body:find('"lastResult":"crm_error"', 1, true) then
    fallbacks = fallbacks + 1
  end
  local id = body:match('"conversationId":"([^"]+)"')
  local next_action = body:match('"nextAction":"([^"]+)"')
  if next_action == "ask_security" then
    push("/v1/sessions/" .. id .. "/security",
         string.format('{"answer":"%s"}', answer))
  elseif next_action == "ask_identifier" then
    local who = customer
    if ani_count > 0 then
      who = tostring(600000 + tonumber(id:match("(%d+)$")) % ani_count)
    end
    push("/v1/sessions/" .. id .. "/identifier",
         string.format('{"identifier":"%s"}', who))
  else
    completed = completed + 1
    if not body:find('"outcome":"verified"', 1, true) then
      unverified = unverified + 1
    end
  end
end

function done(summary, latency, requests)
  local errs, calls, fb, unv = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    errs = errs + (t:get("errors") or 0)
    calls = calls + (t:get("completed") or 0)
    fb = fb + (t:get("fallbacks") or 0)
    unv = unv + (t:get("unverified") or 0)
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT steps=%d steps_per_s=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f " ..
    "non200=%d socket_errors=%d calls_completed=%d fallbacks=%d " ..
    "unverified=%d\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, errs,
    summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout + summary.errors.status, calls, fb, unv))
end
