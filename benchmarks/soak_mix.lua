-- wrk script of benchmarks/soak.py: a fixed mix of three requests, checked.
--
-- Out of every 10 requests of a thread: 8 x GET / (the hello page),
-- 1 x POST /upload of 64 KiB (the handler reads it whole and answers its
-- length), 1 x GET /stream (256 KiB streamed by the handler, chunked).
-- Every answer's body is checked; a wrong one counts as "bad".  done()
-- prints one line, "SOAK {json}", that soak.py reads.

local HELLO = "<h1>It Works!</h1>"
local UPLOAD_SIZE = 64 * 1024
local STREAM_SIZE = 256 * 1024

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  hello = wrk.format("GET", "/")
  upload = wrk.format("POST", "/upload", {["Content-Type"] = "application/octet-stream"},
                      string.rep("x", UPLOAD_SIZE))
  stream = wrk.format("GET", "/stream")
  n = 0
  bad = 0
  seen_hello = 0
  seen_upload = 0
  seen_stream = 0
end

function request()
  n = n + 1
  local k = n % 10
  if k == 3 then
    return upload
  elseif k == 7 then
    return stream
  end
  return hello
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
  elseif body == HELLO then
    seen_hello = seen_hello + 1
  elseif body == tostring(UPLOAD_SIZE) then
    seen_upload = seen_upload + 1
  elseif #body == STREAM_SIZE then
    seen_stream = seen_stream + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local b, h, u, s = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
    h = h + t:get("seen_hello")
    u = u + t:get("seen_upload")
    s = s + t:get("seen_stream")
  end
  local e = summary.errors
  io.write(string.format(
    'SOAK {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "bad": %d, "hello": %d, "upload": %d, ' ..
    '"stream": %d, "latency_p50_us": %d, "latency_p99_us": %d, "latency_max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, b, h, u, s, latency:percentile(50), latency:percentile(99),
    latency.max))
end
