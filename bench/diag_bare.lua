-- wrk: the bare route (GET /healthz), but with the load generator doing the same per-request work
-- as fetch.lua (a random seller id, a request built in Lua with an Authorization header), so that
-- the generator's own cost is the same on both sides of a ratio. Environment: BENCH_IDS, BENCH_KEY.
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local key = os.getenv("BENCH_KEY")
math.randomseed(os.time())

request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/healthz", { ["Authorization"] = "Bearer " .. key, ["X-Seller"] = id })
end
