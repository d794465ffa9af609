-- GET /dashboard/symbol/<random letter>.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
local common = require("common")

function init(args) common.seed() end

function request()
  return wrk.format("GET", "/dashboard/symbol/" .. string.char(96 + math.random(26)))
end
