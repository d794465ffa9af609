/// The Redis function library (Redis 7 `FUNCTION LOAD`): every write an ingest
/// request makes happens inside one of these, atomically, in one round trip.
///
/// It is loaded with `FUNCTION LOAD REPLACE` on every new connection, so a
/// restarted or flushed Redis gets it back before the connection is used; Redis
/// also persists functions in its AOF.
///
/// Key layout (`p` is the configurable prefix, `ss:` by default):
///
/// | key | type | contents |
/// |---|---|---|
/// | `p sym:<s>` | hash | `count`, `earliest`, `latest` (µs since epoch), `followups`: one symbol, all time |
/// | `p r:<L>:<n>` | hash | rollup bucket `n` of level `L` (`s` second, `m` minute, `h` hour, `d` day): `c<s>` count, `f<s>` followups, `n<s>`/`x<s>` first/last µs |
/// | `p e:<second>` | string | the second's fine log: 4 bytes per initial (`offset<<6 \| symbol<<1`) and per attributed followup (`… \| 1`) |
/// | `p u:<2 bytes>` | hash | uuid map: the uuid's other 14 bytes → record (`>I5 I3 B`: second, offset, symbol·2+guess; then `>I5 I3` per followup). 65,536 buckets keep each hash small enough for listpack encoding (~26 bytes per request) |
/// | `p o` | hash | 16-byte uuid → followup times (`>I5 I3` each) still waiting for their initial |
/// | `p log` | stream | the durable event log: `k` kind (`i`/`f`), `u` 16-byte uuid, `s` symbol (empty while unknown), `g` guess, `t` µs, `a` followups adopted by this initial |
/// | `p stats` | hash | `archived`: events acknowledged by the archiver |
enum RedisFunctions {
    static let library = #"""
#!lua name=symbolstream

local LEVELS = { {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400} }
local ARCHIVER = 'archiver'

local function int(n) return string.format('%d', n) end

local function uuid_slot(p, uid)
  return p .. 'u:' .. string.sub(uid, 1, 2), string.sub(uid, 3)
end

local function bucket_key(p, level, sec)
  return p .. 'r:' .. level[1] .. ':' .. int(math.floor(sec / level[2]))
end

-- One more initial at time t (µs) in a hash keeping count/min/max fields.
local function add_initial(key, cf, nf, xf, t)
  local v = redis.call('HMGET', key, cf, nf, xf)
  local c = (tonumber(v[1]) or 0) + 1
  local n, x = tonumber(v[2]), tonumber(v[3])
  if not n then
    redis.call('HSET', key, cf, c, nf, int(t), xf, int(t))
  elseif t < n then
    redis.call('HSET', key, cf, c, nf, int(t))
  elseif t > x then
    redis.call('HSET', key, cf, c, xf, int(t))
  else
    redis.call('HSET', key, cf, c)
  end
end

-- k followups attributed to the initial of symbol s received at (sec, off):
-- they count where the initial was received, whenever they arrive.
local function attribute(p, s, si, sec, off, k)
  redis.call('HINCRBY', p .. 'sym:' .. s, 'followups', k)
  for _, level in ipairs(LEVELS) do
    redis.call('HINCRBY', bucket_key(p, level, sec), 'f' .. s, k)
  end
  redis.call('APPEND', p .. 'e:' .. int(sec), string.rep(struct.pack('>I4', off * 64 + si * 2 + 1), k))
end

-- ARGV: prefix, uuid (16 bytes), symbol (a-z), guess (0/1), second, offset, replay (0/1)
-- Returns {'new', adopted} | {'retry', guess} | {'conflict', symbol}.
local function initial(keys, args)
  local p, uid, s, g = args[1], args[2], args[3], tonumber(args[4])
  local sec, off, replay = tonumber(args[5]), tonumber(args[6]), args[7] == '1'
  local si = string.byte(s) - 97
  local ukey, ufield = uuid_slot(p, uid)
  local rec = redis.call('HGET', ukey, ufield)
  if rec then
    local _, _, flags = struct.unpack('>I5I3B', rec)
    local rsi = math.floor(flags / 2)
    if rsi == si then return {'retry', flags % 2} end
    return {'conflict', string.char(97 + rsi)}
  end
  local record = struct.pack('>I5I3B', sec, off, si * 2 + g)
  local okey = p .. 'o'
  local pending = redis.call('HGET', okey, uid)
  local adopted = 0
  if pending then
    record = record .. pending
    adopted = #pending / 8
    redis.call('HDEL', okey, uid)
  end
  redis.call('HSET', ukey, ufield, record)
  local t = sec * 1000000 + off
  add_initial(p .. 'sym:' .. s, 'count', 'earliest', 'latest', t)
  for _, level in ipairs(LEVELS) do
    add_initial(bucket_key(p, level, sec), 'c' .. s, 'n' .. s, 'x' .. s, t)
  end
  redis.call('APPEND', p .. 'e:' .. int(sec), struct.pack('>I4', off * 64 + si * 2))
  if adopted > 0 then attribute(p, s, si, sec, off, adopted) end
  if not replay then
    if adopted > 0 then
      redis.call('XADD', p .. 'log', '*', 'k', 'i', 'u', uid, 's', s, 'g', g, 't', int(t), 'a', adopted)
    else
      redis.call('XADD', p .. 'log', '*', 'k', 'i', 'u', uid, 's', s, 'g', g, 't', int(t))
    end
  end
  return {'new', adopted}
end

-- ARGV: prefix, uuid (16 bytes), second, offset, replay (0/1)
-- Returns {'attributed', symbol} | {'pending'}.
local function followup(keys, args)
  local p, uid = args[1], args[2]
  local fsec, foff, replay = tonumber(args[3]), tonumber(args[4]), args[5] == '1'
  local ftime = struct.pack('>I5I3', fsec, foff)
  local ft = int(fsec * 1000000 + foff)
  local ukey, ufield = uuid_slot(p, uid)
  local rec = redis.call('HGET', ukey, ufield)
  if not rec then
    local okey = p .. 'o'
    redis.call('HSET', okey, uid, (redis.call('HGET', okey, uid) or '') .. ftime)
    if not replay then
      redis.call('XADD', p .. 'log', '*', 'k', 'f', 'u', uid, 's', '', 't', ft)
    end
    return {'pending'}
  end
  local sec, off, flags = struct.unpack('>I5I3B', rec)
  local si = math.floor(flags / 2)
  local s = string.char(97 + si)
  redis.call('HSET', ukey, ufield, rec .. ftime)
  attribute(p, s, si, sec, off, 1)
  if not replay then
    redis.call('XADD', p .. 'log', '*', 'k', 'f', 'u', uid, 's', s, 't', ft)
  end
  return {'attributed', s}
end

-- ARGV: prefix, symbol. Returns {count, earliest, latest, followups}.
local function symbol(keys, args)
  return redis.call('HMGET', args[1] .. 'sym:' .. args[2], 'count', 'earliest', 'latest', 'followups')
end

-- ARGV: prefix. Returns 26 × {count, earliest, latest, followups}, a..z.
local function totals(keys, args)
  local out = {}
  for i = 0, 25 do
    out[i + 1] = redis.call('HMGET', args[1] .. 'sym:' .. string.char(97 + i), 'count', 'earliest', 'latest', 'followups')
  end
  return out
end

-- ARGV: prefix, number of buckets, buckets as '<L>:<n>', then edge seconds.
-- Returns {26 × {count, followups, min, max} summed over the buckets, then the
-- fine log of each edge second}. Bucket stats are disjoint, so they add up.
local function range(keys, args)
  local p, nb = args[1], tonumber(args[2])
  local c, f, n, x = {}, {}, {}, {}
  for i = 3, 2 + nb do
    local h = redis.call('HGETALL', p .. 'r:' .. args[i])
    for j = 1, #h, 2 do
      local stat, s, v = string.sub(h[j], 1, 1), string.sub(h[j], 2), tonumber(h[j + 1])
      if stat == 'c' then c[s] = (c[s] or 0) + v
      elseif stat == 'f' then f[s] = (f[s] or 0) + v
      elseif stat == 'n' then if not n[s] or v < n[s] then n[s] = v end
      elseif stat == 'x' then if not x[s] or v > x[s] then x[s] = v end
      end
    end
  end
  local out = {}
  for i = 0, 25 do
    local s = string.char(97 + i)
    out[i + 1] = {c[s] or 0, f[s] or 0, n[s] and int(n[s]) or false, x[s] and int(x[s]) or false}
  end
  local logs = {}
  for i = 3 + nb, #args do
    logs[#logs + 1] = redis.call('GET', p .. 'e:' .. args[i]) or ''
  end
  return {out, logs}
end

-- ARGV: prefix, uuid (16 bytes). Returns {'r', record} | {'o', followup times} | nil.
local function request(keys, args)
  local p, uid = args[1], args[2]
  local ukey, ufield = uuid_slot(p, uid)
  local rec = redis.call('HGET', ukey, ufield)
  if rec then return {'r', rec} end
  local pending = redis.call('HGET', p .. 'o', uid)
  if pending then return {'o', pending} end
  return false
end

-- ARGV: prefix. Creates the archiver's consumer group from the stream's start
-- (so events logged before the group existed are archived too).
local function setup(keys, args)
  local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', args[1] .. 'log', ARCHIVER, '0', 'MKSTREAM')
  if not ok and not string.find(tostring(err), 'BUSYGROUP') then return redis.error_reply(tostring(err)) end
  return 'OK'
end

local function successor(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms .. '-' .. int(tonumber(seq) + 1)
end

-- ARGV: prefix, ids... Acknowledges archived entries and trims the stream to
-- what is not yet archived, so the log holds only un-archived events.
local function ack(keys, args)
  local p = args[1]
  local stream = p .. 'log'
  local acked = 0
  for i = 2, #args, 500 do
    acked = acked + redis.call('XACK', stream, ARCHIVER, unpack(args, i, math.min(i + 499, #args)))
  end
  redis.call('HINCRBY', p .. 'stats', 'archived', acked)
  local pending = redis.call('XPENDING', stream, ARCHIVER)
  local keep
  if pending[1] > 0 then
    keep = pending[2]
  else
    for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
      local info = {}
      for j = 1, #group, 2 do info[group[j]] = group[j + 1] end
      if info['name'] == ARCHIVER then keep = successor(info['last-delivered-id']) end
    end
  end
  if keep then redis.call('XTRIM', stream, 'MINID', keep) end
  return acked
end

-- ARGV: prefix. Returns {backlog, oldest un-archived µs or false, archived, waiting followups}.
local function status(keys, args)
  local p = args[1]
  local stream = p .. 'log'
  local backlog = redis.call('XLEN', stream)
  local oldest = false
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  if first then
    local fields = first[2]
    for j = 1, #fields, 2 do if fields[j] == 't' then oldest = fields[j + 1] end end
  end
  local archived = tonumber(redis.call('HGET', p .. 'stats', 'archived') or '0')
  return {backlog, oldest, archived, redis.call('HLEN', p .. 'o')}
end

redis.register_function('ss_initial', initial)
redis.register_function('ss_followup', followup)
redis.register_function{function_name = 'ss_symbol', callback = symbol, flags = {'no-writes'}}
redis.register_function{function_name = 'ss_totals', callback = totals, flags = {'no-writes'}}
redis.register_function{function_name = 'ss_range', callback = range, flags = {'no-writes'}}
redis.register_function{function_name = 'ss_request', callback = request, flags = {'no-writes'}}
redis.register_function{function_name = 'ss_status', callback = status, flags = {'no-writes'}}
redis.register_function('ss_setup', setup)
redis.register_function('ss_ack', ack)
"""#
}
