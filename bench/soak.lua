-- wrk script for bench/soak.py: a mix of requests whose every answer is checked.
--
--   wrk ... -s bench/soak.lua <url> -- <requests file> <expectations file>
--
-- requests file: one request a line, "<path> <token>" ("-" for no Authorization header), sent in
-- order (each thread starts at its own offset) and wrapping around. Every path is
-- /soak/<provider>/<kind>/<n>: the kind decides the expected answer.
-- expectations file: one kind a line, "<kind> <status> <body>" (the body is the rest of the
-- line; "-" to check the status only).
--
-- response() finds which request an answer belongs to from the answer itself, since a wrk thread
-- runs several connections at once: a 200 (Envoy's direct response) names the path in its
-- x-soak-path header, and a jwt-gate denial's WWW-Authenticate realm names it too. An answer
-- whose status or body is not its kind's, or that names no path, is a wrong answer.
--
-- done() prints one line "soak-result {json}": wrk's counters, latency percentiles in
-- microseconds, answers per kind, the number of wrong answers and the first few of them.

local function read_lines(path)
  local lines = {}
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    if #line > 0 then
      lines[#lines + 1] = line
    end
  end
  file:close()
  return lines
end

-- Thread globals. done() reads the scalar ones with thread:get: the kinds, then "count_<kind>"
-- (answers received of each kind), "wrong" and "wrong_samples".
requests = nil   -- formatted requests
nrequests = 0
cursor = 0
offset = 0       -- set by setup(): the thread's number
expected = nil   -- kind -> {status = n, body = s or nil}
kinds = ""       -- the kinds, ";"-separated
wrong = 0        -- wrong answers
wrong_samples = ""  -- the first few, JSON strings, comma-separated

local MAX_SAMPLES = 5
local samples = 0

local function json_string(text)
  text = text:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. text .. '"'
end

function init(args)
  requests = {}
  for _, line in ipairs(read_lines(args[1])) do
    local path, token = line:match("^(%S+) (%S+)$")
    assert(path, "bad request line: " .. line)
    local headers = {}
    if token ~= "-" then
      headers["Authorization"] = "Bearer " .. token
    end
    requests[#requests + 1] = wrk.format("GET", path, headers)
  end
  nrequests = #requests
  assert(nrequests > 0, "no requests")
  expected = {}
  local names = {}
  for _, line in ipairs(read_lines(args[2])) do
    local kind, status, body = line:match("^(%S+) (%d+) (.*)$")
    assert(kind, "bad expectation line: " .. line)
    expected[kind] = { status = tonumber(status), body = body ~= "-" and body or nil }
    _G["count_" .. kind] = 0
    names[#names + 1] = kind
  end
  kinds = table.concat(names, ";")
  cursor = (offset * 7919) % nrequests  -- threads start apart in the sequence
end

function request()
  cursor = cursor + 1
  return requests[(cursor - 1) % nrequests + 1]
end

local function path_of(status, headers, body)
  if status == 200 then
    return headers["x-soak-path"]
  end
  local realm = headers["www-authenticate"] or headers["WWW-Authenticate"]
  return realm and realm:match('realm="https?://[^/"]*(/[^"]*)"')
end

function response(status, headers, body)
  local path = path_of(status, headers, body)
  local kind = path and path:match("^/soak/[^/]+/([^/]+)/")
  local want = kind and expected[kind]
  if want then
    _G["count_" .. kind] = _G["count_" .. kind] + 1
  end
  if want == nil or want.status ~= status or (want.body ~= nil and want.body ~= body) then
    wrong = wrong + 1
    if samples < MAX_SAMPLES then
      samples = samples + 1
      local sample = string.format("%s -> %d %s", tostring(path), status, body:sub(1, 80))
      wrong_samples = wrong_samples .. (wrong_samples == "" and "" or ", ") .. json_string(sample)
    end
  end
end

local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local total_wrong, samples_text, per_kind = 0, {}, {}
  for _, thread in ipairs(threads) do
    total_wrong = total_wrong + thread:get("wrong")
    local text = thread:get("wrong_samples")
    if text ~= "" then
      samples_text[#samples_text + 1] = text
    end
    for name in string.gmatch(thread:get("kinds"), "[^;]+") do
      per_kind[name] = (per_kind[name] or 0) + thread:get("count_" .. name)
    end
  end
  local kinds = {}
  for name, count in pairs(per_kind) do
    kinds[#kinds + 1] = string.format('"%s": %d', name, count)
  end
  local e = summary.errors
  io.write(string.format(
    'soak-result {"duration_us": %d, "requests": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "max": %d, "p50": %d, "p99": %d, "p999": %d}, ' ..
    '"kinds": {%s}, "wrong": %d, "wrong_samples": [%s]}\n',
    summary.duration, summary.requests,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9),
    table.concat(kinds, ", "), total_wrong, table.concat(samples_text, ", ")))
end
