-- wrk: GET /v1/whoami with one (remembered) key. Environment: BENCH_KEY.
local key = os.getenv("BENCH_KEY")
request = function()
  return wrk.format("GET", "/v1/whoami", { ["Authorization"] = "Bearer " .. key })
end
