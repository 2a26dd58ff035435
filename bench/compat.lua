-- wrk: POST /auth/o2/token (form body) for a random seller, as an SP-API SDK sends it.
-- Environment: BENCH_IDS, BENCH_KEY, BENCH_CLIENT_ID.
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local key = os.getenv("BENCH_KEY")
local client_id = os.getenv("BENCH_CLIENT_ID")
math.randomseed(os.time())

request = function()
  local id = ids[math.random(#ids)]
  local body = "grant_type=refresh_token&refresh_token=" .. id .. "&client_id=" .. client_id
    .. "&client_secret=" .. key
  return wrk.format("POST", "/auth/o2/token",
    { ["Content-Type"] = "application/x-www-form-urlencoded;charset=UTF-8" }, body)
end

