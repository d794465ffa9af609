-- Shared by the wrk scripts: per-thread seeding and random uuid4s.
local common = {}

function common.seed()
  -- Different in every wrk thread (the table address differs) and every run.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 1000003)
end

local hex = "0123456789abcdef"
local variant = "89ab"
function common.uuid4()
  local t = {}
  for i = 1, 30 do
    local r = math.random(16)
    t[i] = hex:sub(r, r)
  end
  local v = math.random(4)
  local s = table.concat(t)
  return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-4" .. s:sub(13, 15) .. "-" .. variant:sub(v, v) .. s:sub(16, 18) .. "-" .. s:sub(19, 30)
end

-- Optional pacing: WRK_DELAY_MS per request per connection on average (for
-- fixed-rate runs). Each delay is drawn from 0..2×mean so that connections do
-- not fire on the same millisecond tick and arrive as bursts.
function common.delay_ms()
  return tonumber(os.getenv("WRK_DELAY_MS") or "0")
end

function common.jittered(mean)
  return math.random(0, 2 * mean)
end

-- Every script prints one machine-readable summary line for bench/run.sh.
function done(summary, latency, requests)
  io.write(string.format("WRK_RESULT rps=%.1f p50_us=%d p99_us=%d mean_us=%.1f requests=%d errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99), latency.mean,
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end

return common
