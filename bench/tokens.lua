-- wrk script for bench/run.py: cycles through a pattern of request kinds.
--
--   wrk ... -s bench/tokens.lua <url> -- <pattern> <same-token file> <pool file> <pool offset>
--
-- pattern: one letter per request, repeated: S = the same token every time (the first line of
-- <same-token file>), D = the next token of <pool file> (one token a line, used in order from
-- line <pool offset> + 1 and wrapping around), N = no Authorization header. "-" for a file that
-- the pattern does not use. Every request is formatted once, in init(); request() only picks one.
--
-- done() prints one line "bench-result {json}": wrk's own counters, latency percentiles in
-- microseconds, and where each thread's pool cursor stopped (the next run continues from there,
-- so a pool token comes back only after the whole pool has been used).

local function read_lines(path)
  local lines = {}
  if path == nil or path == "-" then
    return lines
  end
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    if #line > 0 then
      lines[#lines + 1] = line
    end
  end
  file:close()
  return lines
end

local function format(token)
  if token == nil then
    return wrk.format("GET", wrk.path, {})
  end
  return wrk.format("GET", wrk.path, { ["Authorization"] = "Bearer " .. token })
end

-- Thread globals (thread:get reads them in done()).
kinds = nil   -- pattern letters
nkinds = 0
same = nil    -- the formatted S request
none = nil    -- the formatted N request
pool = nil    -- formatted D requests
npool = 0
i = 0         -- requests generated
cursor = 0    -- pool tokens used, counting from the offset

function init(args)
  local pattern = args[1] or "N"
  kinds = {}
  for k = 1, #pattern do
    kinds[k] = pattern:sub(k, k)
  end
  nkinds = #kinds
  local same_tokens = read_lines(args[2])
  same = format(same_tokens[1])
  none = format(nil)
  pool = {}
  for k, token in ipairs(read_lines(args[3])) do
    pool[k] = format(token)
  end
  npool = #pool
  cursor = tonumber(args[4] or "0") or 0
  if pattern:find("S") and same_tokens[1] == nil then
    error("pattern uses S but no same-token file was given")
  end
  if pattern:find("D") and npool == 0 then
    error("pattern uses D but the pool is empty")
  end
end

function request()
  i = i + 1
  local kind = kinds[(i - 1) % nkinds + 1]
  if kind == "S" then
    return same
  elseif kind == "D" then
    cursor = cursor + 1
    return pool[(cursor - 1) % npool + 1]
  end
  return none
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local cursors = {}
  for _, thread in ipairs(threads) do
    cursors[#cursors + 1] = tostring(thread:get("cursor"))
  end
  local e = summary.errors
  io.write(string.format(
    'bench-result {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d}, ' ..
    '"cursors": [%s]}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    table.concat(cursors, ", ")))
end
