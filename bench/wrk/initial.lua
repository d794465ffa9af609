-- POST /initial with a fresh uuid and a random letter (query string, empty
-- body, like the Python client); about 5% of requests are a followup of a
-- recent uuid of this thread.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
local common = require("common")
local recent, recent_count = {}, 0
local pause = common.delay_ms()

function init(args) common.seed() end

function request()
  if recent_count > 0 and math.random() < 0.05 then
    return wrk.format("POST", "/followup?uuid=" .. recent[math.random(recent_count)])
  end
  local id = common.uuid4()
  if recent_count < 256 then
    recent_count = recent_count + 1
    recent[recent_count] = id
  else
    recent[math.random(256)] = id
  end
  return wrk.format("POST", "/initial?uuid=" .. id .. "&symbol=" .. string.char(96 + math.random(26)))
end

if pause > 0 then
  function delay() return common.jittered(pause) end
end
