-- wrk: POST /v1/sellers/{random seller}/restricted-data-token with the tenant key, for one
-- resource set (getOrderAddress of one order), warmed beforehand (`bench warm --rdt 1`).
-- Environment: BENCH_IDS (a file with one seller id a line), BENCH_KEY.
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local key = os.getenv("BENCH_KEY")
local body = '{"restricted_resources":[{"method":"GET","path":"/orders/v0/orders/902-1845936-5435065/address"}]}'
math.randomseed(os.time())

request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("POST", "/v1/sellers/" .. id .. "/restricted-data-token",
    { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }, body)
end
