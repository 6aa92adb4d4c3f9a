-- wrk script: POST an OpenAI-shaped request with a bearer token, report JSON at the end.
--
-- Environment:
--   BENCH_TOKEN      bearer token to send (default "sk-bench")
--   BENCH_PATH       request path (default /v1/chat/completions)
--   BENCH_STREAM     "1" sends "stream": true (SSE response)
--   BENCH_BODY_FILE  send this file's bytes as the body instead of the built-in request
--                    (bench/privacy/bodies.py writes the 4 KB privacy prompt)
--   BENCH_MIX_SSE    N > 0: the mixed load of the memory soak instead: every Nth request is
--                    streamed, the others JSON; each body carries its request number, so no two
--                    are alike; tokens taken in turn from BENCH_TOKENS (comma-separated)
--   BENCH_LABEL      free text copied into the result line
--
-- The last line wrk prints is `BENCH_JSON {...}` with requests/s and latency percentiles
-- in microseconds; bench/report.py reads it.

local token = os.getenv("BENCH_TOKEN") or "sk-bench"
local stream = os.getenv("BENCH_STREAM") == "1"
local label = os.getenv("BENCH_LABEL") or ""
local body_file = os.getenv("BENCH_BODY_FILE") or ""
local mix_sse = tonumber(os.getenv("BENCH_MIX_SSE") or "0") or 0

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["User-Agent"] = "OpenAI/Python 1.99.0"

-- A typical small chat request (about 600 bytes): a system prompt, one user turn.
local function chat_body(stream_field, suffix)
  return '{"model":"gpt-4o-mini",' .. stream_field ..
    '"messages":[' ..
    '{"role":"system","content":"You are a concise assistant for an engineering team. ' ..
    'Answer in plain English, cite no sources, and keep answers under one hundred words."},' ..
    '{"role":"user","content":"Our team shares one OpenAI API key in a .env file that is ' ..
    'checked into a private repository. What are the three most important things we should ' ..
    'change first, and why?' .. suffix .. '"}],' ..
    '"temperature":0.2,"max_tokens":256}'
end

if body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
elseif stream then
  wrk.body = chat_body('"stream":true,', "")
else
  wrk.body = chat_body("", "")
end

if mix_sse > 0 then
  local tokens = {}
  for t in string.gmatch(os.getenv("BENCH_TOKENS") or token, "[^,]+") do
    tokens[#tokens + 1] = t
  end
  local counter = 0
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end

  function request()
    counter = counter + 1
    headers["Authorization"] = "Bearer " .. tokens[counter % #tokens + 1]
    local stream_field = ""
    if counter % mix_sse == 0 then stream_field = '"stream":true,' end
    return wrk.format(nil, nil, headers, chat_body(stream_field, " (request " .. counter .. ")"))
  end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"label":"%s","requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,' ..
    '"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    label, summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
