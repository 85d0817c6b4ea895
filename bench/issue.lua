-- wrk script: POST /api/v1/certificates with a unique common name per request.
-- Arguments (after --): token team_id authority_id key_type run_id
-- Prints one line "BENCH_JSON {...}" from done() with counts and latency percentiles (ms).

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  token, team_id, authority_id, key_type, run_id = args[1], args[2], args[3], args[4], args[5]
  counter = 0
  non2xx = 0
  first_error = ""
  headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
end

function request()
  counter = counter + 1
  local cn = string.format("r%s-t%d-%d.bench.example.com", run_id, thread_id, counter)
  local body = string.format(
    '{"team_id": %s, "authority_id": %s, "common_name": "%s", "key_type": "%s"}',
    team_id, authority_id, cn, key_type)
  return wrk.format("POST", "/api/v1/certificates", headers, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_error == "" then
      first_error = tostring(status) .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local bad, err = 0, ""
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    local e = t:get("first_error")
    if err == "" and e ~= nil then err = e end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, ' ..
    '"timeouts": %d, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "first_error": "%s"}\n',
    summary.requests, summary.duration, bad, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, (err:gsub('[%c"\\]', ' '))))
end
