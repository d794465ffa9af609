/// The Redis function library (Redis 7 `FUNCTION LOAD`): every write an ingest
/// batch makes happens inside one call of `ss_ingest`, atomically, in one
/// round trip.
///
/// It is loaded with `FUNCTION LOAD REPLACE` on every new connection, so a
/// restarted or flushed Redis gets it back before the connection is used; Redis
/// also persists functions in its AOF.
///
/// Key layout (`p` is the configurable prefix, `ss:` by default; `<s>` a letter):
///
/// | key | type | contents |
/// |---|---|---|
/// | `p totals` | hash | all-time statistics, one field per symbol `<s>`: `>dddddd` count, followups, first and last µs since epoch, initials answered True, their followups (doubles are exact below 2^53). `/dashboard/symbol` is one `HGET` of it |
/// | `p r:<L>:<n>` | hash | rollup bucket `n` of level `L` (`s` second, `m` minute, `h` hour, `d` day), same fields |
/// | `p e:<second>` | string | the second's fine log: 4 bytes per initial (`offset<<7 \| symbol<<2 \| answeredTrue<<1`) and per attributed followup (`… \| 1`) |
/// | `p u:<2 bytes>` | hash | uuid map: the uuid's other 14 bytes → record. An initial's record is `>I5 I3 B` (second, offset, symbol·2+guess) then `>I5 I3` per followup; a request with only followups so far is byte 0xFF then their times. 65,536 buckets keep each hash small enough for listpack encoding |
/// | `p log` | stream | the durable event log, one entry per ingest batch: `t` first µs, `n` events, `e` packed events (29 bytes each: kind `i`/`f`, 16-byte uuid, symbol or `-`, guess `0`/`1`/`-`, `>I5 I3` time, `>I2` followups adopted), and only when some initial adopted followups `a`: their times (`>I5 I3` each), initial by initial in `e`'s order, so the archiver gives those followups' rows the symbol within the same batch (entries written before `a` existed lack it) |
/// | `p stats` | hash | `archived` events, `waiting` requests whose followups wait for their initial |
///
/// Reads need no function: the Swift side reads these keys directly
/// (`RedisLayout`) and does the arithmetic, so Redis only serves plain `HGET`,
/// `HGETALL` and `GET`.
///
/// Why batches: requests that arrive while a call is in flight share the next
/// one. Per new initial Redis then does one `HSETNX` of the uuid map (a read
/// only for retries, conflicts and followups); rollup deltas are summed in Lua
/// and written once per bucket per batch. One field per symbol keeps every
/// hash at 26 fields or fewer, so listpack lookups stay short.
enum RedisFunctions {
    static let library = #"""
#!lua name=symbolstream

local LEVELS = { {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400} }
local ARCHIVER = 'archiver'
local ORPHAN = '\255'

-- Outcome codes returned per event (pairs: code, value).
local NEW, RETRY, CONFLICT, ATTRIBUTED, PENDING = 1, 2, 3, 4, 5

local function int(n) return string.format('%d', n) end

-- Adds deltas for symbol s into the pending update of hash key: count,
-- followups, first, last, then the same count and followups for initials
-- answered True (g = 1) only.
local function delta(pending, key, s, count, followups, t, g)
  local d = pending[key]
  if not d then d = {}; pending[key] = d end
  local e = d[s]
  if not e then e = {0, 0, false, false, 0, 0}; d[s] = e end
  e[1] = e[1] + count
  e[2] = e[2] + followups
  if g == 1 then
    e[5] = e[5] + count
    e[6] = e[6] + followups
  end
  if t then
    if not e[3] or t < e[3] then e[3] = t end
    if not e[4] or t > e[4] then e[4] = t end
  end
end

-- Writes the summed deltas: one HMGET and one HSET per hash.
local function flush(pending)
  for key, d in pairs(pending) do
    local fields = {}
    for s, _ in pairs(d) do fields[#fields + 1] = s end
    local cur = redis.call('HMGET', key, unpack(fields))
    local out = {}
    for i, s in ipairs(fields) do
      local e = d[s]
      local c, f, n, x, tc, tf = 0, 0, e[3], e[4], 0, 0
      if cur[i] then
        local n0, x0
        c, f, n0, x0, tc, tf = struct.unpack('>dddddd', cur[i])
        if not n or n0 < n then n = n0 end
        if not x or x0 > x then x = x0 end
      end
      out[#out + 1] = s
      out[#out + 1] = struct.pack('>dddddd', c + e[1], f + e[2], n, x, tc + e[5], tf + e[6])
    end
    redis.call('HSET', key, unpack(out))
  end
end

-- ARGV: prefix, replay (0/1), then per event 6 values: kind (i/f), uuid (16
-- bytes), symbol (a-z, empty for a followup), guess (0/1, empty), second, offset.
-- Returns per event a pair {code, value}: NEW adopted | RETRY guess |
-- CONFLICT symbol index | ATTRIBUTED symbol index | PENDING 0.
local function ingest(keys, args)
  local p, replay = args[1], args[2] == '1'
  local out, pending, fine, logged, adoptions = {}, {}, {}, {}, {}
  local waiting = 0
  local first_t = false
  local totals = p .. 'totals'
  local last_sec, bucket_keys = nil, nil

  -- Rollup keys of one second, reused while events share it.
  local function buckets(sec)
    if sec ~= last_sec then
      last_sec = sec
      bucket_keys = { totals }
      for i, level in ipairs(LEVELS) do
        bucket_keys[i + 1] = p .. 'r:' .. level[1] .. ':' .. int(math.floor(sec / level[2]))
      end
    end
    return bucket_keys
  end

  -- k followups of the initial of symbol s (answered g) received at sec, off.
  local function attribute(s, si, g, sec, off, k)
    for _, key in ipairs(buckets(sec)) do delta(pending, key, s, 0, k, false, g) end
    local f = fine[sec]
    if not f then f = {}; fine[sec] = f end
    f[#f + 1] = string.rep(struct.pack('>I4', off * 128 + si * 4 + g * 2 + 1), k)
  end

  local function log(kind, uid, s, g, sec, off, adopted)
    if replay then return end
    logged[#logged + 1] = kind .. uid .. s .. g .. struct.pack('>I5I3I2', sec, off, adopted)
    if not first_t then first_t = sec * 1000000 + off end
  end

  for i = 3, #args, 6 do
    local kind, uid, s, g = args[i], args[i + 1], args[i + 2], args[i + 3]
    local sec, off = tonumber(args[i + 4]), tonumber(args[i + 5])
    local ukey, ufield = p .. 'u:' .. string.sub(uid, 1, 2), string.sub(uid, 3)
    if kind == 'i' then
      local si = string.byte(s) - 97
      local gi = tonumber(g)
      local record = struct.pack('>I5I3B', sec, off, si * 2 + gi)
      -- A new uuid is the common case: one call. Otherwise read what is there.
      local rec = false
      if redis.call('HSETNX', ukey, ufield, record) == 0 then rec = redis.call('HGET', ukey, ufield) end
      local orphan = rec and string.sub(rec, 1, 1) == ORPHAN
      if rec and not orphan then
        local _, _, flags = struct.unpack('>I5I3B', rec)
        local rsi = math.floor(flags / 2)
        if rsi == si then
          out[#out + 1] = RETRY; out[#out + 1] = flags % 2
        else
          out[#out + 1] = CONFLICT; out[#out + 1] = rsi
        end
      else
        local adopted = 0
        if orphan then
          adopted = (#rec - 1) / 8
          redis.call('HSET', ukey, ufield, record .. string.sub(rec, 2))
          waiting = waiting - 1
          if not replay then adoptions[#adoptions + 1] = string.sub(rec, 2) end
        end
        local t = sec * 1000000 + off
        for _, key in ipairs(buckets(sec)) do delta(pending, key, s, 1, 0, t, gi) end
        local f = fine[sec]
        if not f then f = {}; fine[sec] = f end
        f[#f + 1] = struct.pack('>I4', off * 128 + si * 4 + gi * 2)
        if adopted > 0 then attribute(s, si, gi, sec, off, adopted) end
        log('i', uid, s, g, sec, off, adopted)
        out[#out + 1] = NEW; out[#out + 1] = adopted
      end
    else
      local ftime = struct.pack('>I5I3', sec, off)
      local rec = redis.call('HGET', ukey, ufield)
      local orphan = rec and string.sub(rec, 1, 1) == ORPHAN
      if rec and not orphan then
        local isec, ioff, flags = struct.unpack('>I5I3B', rec)
        local si = math.floor(flags / 2)
        local is = string.char(97 + si)
        redis.call('HSET', ukey, ufield, rec .. ftime)
        attribute(is, si, flags % 2, isec, ioff, 1)
        log('f', uid, is, '-', sec, off, 0)
        out[#out + 1] = ATTRIBUTED; out[#out + 1] = si
      else
        if not rec then waiting = waiting + 1 end
        redis.call('HSET', ukey, ufield, (rec or ORPHAN) .. ftime)
        log('f', uid, '-', '-', sec, off, 0)
        out[#out + 1] = PENDING; out[#out + 1] = 0
      end
    end
  end

  flush(pending)
  for sec, entries in pairs(fine) do
    redis.call('APPEND', p .. 'e:' .. int(sec), table.concat(entries))
  end
  if waiting ~= 0 then redis.call('HINCRBY', p .. 'stats', 'waiting', waiting) end
  if #adoptions > 0 then
    redis.call('XADD', p .. 'log', '*', 't', int(first_t), 'n', #logged, 'e', table.concat(logged), 'a', table.concat(adoptions))
  elseif #logged > 0 then
    redis.call('XADD', p .. 'log', '*', 't', int(first_t), 'n', #logged, 'e', table.concat(logged))
  end
  return out
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

-- ARGV: prefix, events archived, entry ids... Acknowledges archived entries
-- and trims the stream to what is not yet archived, so the log holds only
-- un-archived events.
local function ack(keys, args)
  local p = args[1]
  local stream = p .. 'log'
  local acked = 0
  for i = 3, #args, 500 do
    acked = acked + redis.call('XACK', stream, ARCHIVER, unpack(args, i, math.min(i + 499, #args)))
  end
  if acked > 0 then redis.call('HINCRBY', p .. 'stats', 'archived', args[2]) end
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

-- ARGV: prefix. Returns {backlog entries, oldest un-archived µs or false,
-- archived events, requests waiting for their initial}.
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
  local stats = redis.call('HMGET', p .. 'stats', 'archived', 'waiting')
  return {backlog, oldest, tonumber(stats[1] or '0'), tonumber(stats[2] or '0')}
end

-- ARGV: prefix, glob pattern of the prefix's keys, cursor. One step of
-- deleting every aggregate key (all but the log, dead letters and stats),
-- server-side so that millions of keys need no round trips. Returns
-- {next cursor, keys deleted}; '0' when done. The keys found are deleted as
-- they are, unless a kept key is among them (a few steps of millions).
local function reset(keys, args)
  local p = args[1]
  local keep = {[p .. 'log'] = true, [p .. 'deadletter'] = true, [p .. 'stats'] = true}
  local scan = redis.call('SCAN', args[3], 'MATCH', args[2], 'COUNT', 10000)
  local doomed = scan[2]
  for _, key in ipairs(doomed) do
    if keep[key] then
      doomed = {}
      for _, other in ipairs(scan[2]) do
        if not keep[other] then doomed[#doomed + 1] = other end
      end
      break
    end
  end
  for i = 1, #doomed, 5000 do
    redis.call('UNLINK', unpack(doomed, i, math.min(i + 4999, #doomed)))
  end
  return {scan[1], #doomed}
end

redis.register_function('ss_ingest', ingest)
redis.register_function('ss_reset', reset)
redis.register_function{function_name = 'ss_status', callback = status, flags = {'no-writes'}}
redis.register_function('ss_setup', setup)
redis.register_function('ss_ack', ack)
"""#
}
