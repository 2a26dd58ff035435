-- wrk: POST /v1/sellers/{random seller}/access-token with the tenant key.
-- Environment: BENCH_IDS (a file with one seller id a line), BENCH_KEY.
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local key = os.getenv("BENCH_KEY")
math.randomseed(os.time())

request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("POST", "/v1/sellers/" .. id .. "/access-token",
    { ["Authorization"] = "Bearer " .. key })
end

