-- GET /dashboard/range/<RANGE_LOWER>/<RANGE_UPPER> (from the environment).
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
require("common")
local path = "/dashboard/range/" .. (os.getenv("RANGE_LOWER") or "2026-10-01") .. "/" .. (os.getenv("RANGE_UPPER") or "2026-11-01")

function request()
  return wrk.format("GET", path)
end
