-- wrk's script for the linkage benchmarks (benchmarks/native.py runs it): every request is a POST of
-- a body template with a fresh MSGID and the next 宛名番号, and every answer but 200 is counted.
--
--   wrk -t2 -c16 -d15s --latency -s linkage.lua URL -- TEMPLATE ATENAS PREFIX
--
-- TEMPLATE is a file holding the body with @MSGID@ and @ATENA@ in it; ATENAS is comma-separated;
-- PREFIX makes this run's MSGIDs its own (the hub refuses a MSGID it has seen with another body).
-- MSGIDs are PREFIX-THREAD-N: distinct across wrk's threads, each of which has a Lua state of its own.
-- WRK_ADDRESSES=host:port,host:port (the environment: setup() never sees the arguments) points the
-- threads at several hub replicas in turn.
-- done() prints one line, "WRK_JSON {...}", which benchmarks/native.py reads.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  local addresses = os.getenv("WRK_ADDRESSES")
  if addresses and addresses ~= "" then
    local list = {}
    for host, port in addresses:gmatch("([^,:]+):(%d+)") do
      table.insert(list, { host = host, port = port })
    end
    local target = list[(#threads % #list) + 1]
    thread.addr = wrk.lookup(target.host, target.port)[1]
  end
  table.insert(threads, thread)
end

local parts, atenas, prefix
local counter = 0
non_200 = 0
first_non_200 = ""

local function split(text, separator)
  local list, start = {}, 1
  while true do
    local at, stop = text:find(separator, start, true)
    if not at then
      table.insert(list, text:sub(start))
      return list
    end
    table.insert(list, text:sub(start, at - 1))
    start = stop + 1
  end
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local template = file:read("*a")
  file:close()
  -- The template in pieces once; each request joins them around its MSGID and 宛名番号.
  parts = {}
  for _, piece in ipairs(split(template, "@MSGID@")) do
    table.insert(parts, split(piece, "@ATENA@"))
  end
  atenas = split(args[2], ",")
  prefix = args[3]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
end

function request()
  counter = counter + 1
  local msgid = prefix .. "-" .. id .. "-" .. counter
  local atena = atenas[(counter + id) % #atenas + 1]
  local body = {}
  for n, pieces in ipairs(parts) do
    if n > 1 then
      table.insert(body, msgid)
    end
    table.insert(body, table.concat(pieces, atena))
  end
  return wrk.format(nil, nil, nil, table.concat(body))
end

function response(status, headers, body)
  if status ~= 200 then
    non_200 = non_200 + 1
    if first_non_200 == "" then
      first_non_200 = status .. " " .. (body or ""):sub(1, 300)
    end
  end
end

local function json_string(text)
  return '"' .. text:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

function done(summary, latency, requests)
  local bad, sample = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non_200")
    if sample == "" then
      sample = thread:get("first_non_200")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"non_200":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"first_non_200":%s}\n',
    summary.requests, summary.duration, summary.bytes, bad,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    json_string(sample)
  ))
end
