-- wrk: GET /v1/whoami with one key, the request built once (no per-request Lua, as for the plain
-- bare-route run). Environment: BENCH_KEY.
wrk.method = "GET"
wrk.path = "/v1/whoami"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
