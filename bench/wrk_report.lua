-- Optionally make every request unique (WRK_UNIQUE=1), then print wrk's figures as JSON.
-- WRK_RUN names the run: LuaJIT's math.random gives every wrk process the same numbers, so
-- without it a later run would ask for the very URLs an earlier one left in the page cache.
-- WRK_COOKIE, when set, is sent as the Cookie header (a logged-in member of staff).
local unique = os.getenv("WRK_UNIQUE") == "1"
local run = os.getenv("WRK_RUN") or ""
local cookie = os.getenv("WRK_COOKIE") or ""
local headers = {}
if cookie ~= "" then headers["Cookie"] = cookie end
local counter = 0
local made = 0
tid = 0

setup = function(thread)
  made = made + 1
  thread:set("tid", made)  -- each thread counts on its own
end

request = function()
  if not unique then
    return wrk.format(nil, wrk.path, headers)
  end
  counter = counter + 1
  local sep = string.find(wrk.path, "?", 1, true) and "&" or "?"
  return wrk.format(nil, wrk.path .. sep .. "r=" .. run .. "-" .. tid .. "-" .. counter, headers)
end

done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
