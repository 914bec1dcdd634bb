-- wrk script of the HTTP benchmark: GET <path> with a bearer token, either the same one
-- every time or the next of a list (one per line), cycling; prints one JSON line at the end.
-- Arguments after "--": <path> <token file> <rotate: 1|0>
local tokens = {}
local index = 0
local path = "/"
local rotate = false

function init(args)
  path = args[1] or "/"
  if args[2] then
    for line in io.lines(args[2]) do
      if #line > 0 then tokens[#tokens + 1] = line end
    end
  end
  rotate = args[3] == "1"
  if not rotate and #tokens > 0 then
    wrk.headers["Authorization"] = "Bearer " .. tokens[1]
    req = wrk.format("GET", path)
  end
end

function request()
  if rotate then
    index = index % #tokens + 1
    return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[index] })
  end
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"errors":%d,"non2xx":%d,"p50Us":%d,"p99Us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
