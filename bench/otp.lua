-- wrk script for bench/otp.sh: complete calls on one service line, one
-- step per request, unique conversation IDs, ANIs spread over
-- BENCH_ANI_COUNT customers (tel:+13176000000 upwards).
--   BENCH_LINE=bench    (verificationMethod answer): start (ANI lookup)
--                       -> security answer (CRM verify) -> verified
--   BENCH_LINE=benchotp (verificationMethod otp): start (ANI lookup, send
--                       limits, SMS send) -> the code -> done
-- wrk cannot read the SMS, so the code step keys BENCH_OTP_CODE (a wrong
-- code unless it happens to match): the same keyed-hash comparison as a
-- right one; the bench's config sets the lockout high enough that wrong
-- codes never lock a customer out.
local key = os.getenv("BENCH_KEY") or "bench-key-0000-0000"
local line = os.getenv("BENCH_LINE") or "bench"
local ani_count = tonumber(os.getenv("BENCH_ANI_COUNT") or "1000")
local code = os.getenv("BENCH_OTP_CODE") or "000000"
local headers = {["Content-Type"] = "application/json",
                 ["Authorization"] = "Bearer " .. key}
local counter, prefix = 0, nil
local queue, head, tail = {}, 1, 0
errors, completed, unexpected = 0, 0, 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix = string.format("o%d-%d-%d", os.time(), thread_id or 0,
                         math.random(1, 1e9))
end

function request()
  if head <= tail then
    local step = queue[head]
    queue[head] = nil
    head = head + 1
    return wrk.format("POST", step.url, headers, step.body)
  end
  counter = counter + 1
  local body = string.format(
    '{"conversationId":"%s-%d","ani":"tel:+1317%07d","serviceLine":"%s"}',
    prefix, counter, 6000000 + counter % ani_count, line)
  return wrk.format("POST", "/v1/sessions", headers, body)
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
  local id = body:match('"conversationId":"([^"]+)"')
  local next_action = body:match('"nextAction":"([^"]+)"')
  if next_action == "ask_security" and line == "bench" then
    push("/v1/sessions/" .. id .. "/security", '{"answer":"1234"}')
  elseif next_action == "ask_otp" and body:find('"promptId":"ask_otp"', 1, true) then
    push("/v1/sessions/" .. id .. "/otp", '{"code":"' .. code .. '"}')
  else
    completed = completed + 1
    local want = line == "bench" and '"outcome":"verified"' or
                 '"lastResult":"wrong_code"'
    if not body:find(want, 1, true) then unexpected = unexpected + 1 end
  end
end

function done(summary, latency, requests)
  local errs, calls, unexp = 0, 0, 0
  for _, t in ipairs(threads) do
    errs = errs + (t:get("errors") or 0)
    calls = calls + (t:get("completed") or 0)
    unexp = unexp + (t:get("unexpected") or 0)
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT steps=%d steps_per_s=%.0f p50_ms=%.3f p99_ms=%.3f " ..
    "non200=%d socket_errors=%d calls_completed=%d unexpected=%d\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errs,
    summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout + summary.errors.status, calls, unexp))
end
