#!lua name=symbolstream
-- SymbolStream's Redis function library: every write an ingest batch makes
-- happens inside one call of ss_ingest, atomically, in one round trip.
--
-- The storage format is this file plus Sources/RedisStore/Format/*.swift,
-- which decode (and, for rebuild, encode) the same bytes. The constants both
-- sides share are below; ss_format reports them, and FunctionLibraryTests
-- checks them against the Swift codecs on a real Redis.
--
-- Key layout (p is the configurable prefix, 'ss:' by default; <s> a letter):
--   p totals        hash   all-time statistics, one field per symbol <s>: a
--                          stats record (STATS_FORMAT): count, followups,
--                          first and last µs since epoch, initials answered
--                          True, their followups (doubles: exact below 2^53)
--   p r:<L>:<n>     hash   rollup bucket n of level L (s, m, h, d), same fields
--   p e:<second>    string the second's fine log: a FINE_FORMAT entry per
--                          initial (offset<<7 | symbol<<2 | answeredTrue<<1)
--                          and per attributed followup (... | 1)
--   p u:<2 bytes>   hash   uuid map: the uuid's other 14 bytes -> record; an
--                          initial's record is RECORD_FORMAT (second, offset,
--                          symbol*2+guess) then TIME_FORMAT per followup; a
--                          request with only followups so far is ORPHAN then
--                          their times. 65,536 hashes keep each one small
--                          enough for listpack encoding
--   p z:<name>      zset   the rankings, scored from the totals record by the
--                          same call (so they always agree): z:initials a
--                          symbol's count, z:followups its followups (members
--                          with followups only), z:recent its latest initial
--                          (µs since epoch; exact below 2^53)
--   p k:<n>:<part>  hash   remembered idempotency keys of followups received in
--                          bucket n (receive second ÷ window) whose digest
--                          (DIGEST_BYTES, IdempotencyDigest.swift) starts with
--                          byte <part> (0-255, in decimal): field the other
--                          digest bytes, value empty. Each hash expires whole
--                          once no followup can look into it (2 windows)
--   p log           stream the event log, one entry per ingest batch: t first
--                          µs, n events, e the events (LOG_EVENT_BYTES each:
--                          the ingest record, then '>I2' followups adopted),
--                          and, only when an initial adopted followups, a:
--                          their times, initial by initial in e's order
--   p stats         hash   archived events; waiting requests (followups
--                          waiting for their initial); unarchived: events
--                          in the log not yet archived (the backlog)
--   p deadletter    stream entries the archiver could not write, with why
--
-- Reads need no function: the Swift side reads these keys directly.

local LEVELS = { {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400} }
local ARCHIVER = 'archiver'

-- The storage format's shared constants (see ss_format).
local TIME_FORMAT = '>I5I3'           -- a receive time: second, µs offset
local TIME_BYTES = 8
local STATS_FORMAT = '>dddddd'        -- one symbol's statistics in a bucket
local RECORD_FORMAT = '>I5I3B'        -- an initial's uuid record, before its followups' times
local RECORD_BYTES = 9
local FINE_FORMAT = '>I4'             -- one fine log entry
local INGEST_FORMAT = 'c1c16c1c1>I5I3' -- one event of ss_ingest's packed argument
local INGEST_BYTES = 27
local ADOPTED_FORMAT = '>I2'          -- appended to an event's ingest record in the log:
local NONE_ADOPTED = '\0\0'           --   followups an initial adopted (none for a followup)
local ORPHAN = '\255'                -- first byte of a record with only followups
local KEYED = 'k'                     -- kind of a followup with an idempotency key: its
local DIGEST_BYTES = 16               --   digest is the next DIGEST_BYTES of the digests argument
local RANKINGS = {'initials', 'followups', 'recent'}  -- p z:<name>, scored count, followups, latest

-- Outcome codes returned per event (pairs: code, value).
local NEW, RETRY, CONFLICT, ATTRIBUTED, PENDING, REPLAYED = 1, 2, 3, 4, 5, 6

local function int(n) return string.format('%d', n) end

-- Letters by symbol index (a literal: the string library is not available
-- while a library loads).
local LETTERS = {[0] = 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z'}

-- The statistics of one symbol within one second of a batch, created on first
-- use: count, followups, first, last, then count and followups of initials
-- answered True. Events are summed per second first and spread over the five
-- hashes (totals and the four rollup levels) once per batch: the Lua work per
-- event stays a few table updates, whatever the number of levels.
local function stats(groups, order, sec, si)
  local g = groups[sec]
  if not g then g = {}; groups[sec] = g; order[#order + 1] = sec end
  local e = g[si]
  if not e then e = {0, 0, false, false, 0, 0}; g[si] = e end
  return e
end

-- Adds statistics e into d (both tables of symbol index -> statistics).
local function merge(d, g)
  for si, e in pairs(g) do
    local x = d[si]
    if not x then
      d[si] = {e[1], e[2], e[3], e[4], e[5], e[6]}
    else
      x[1] = x[1] + e[1]; x[2] = x[2] + e[2]; x[5] = x[5] + e[5]; x[6] = x[6] + e[6]
      if e[3] and (not x[3] or e[3] < x[3]) then x[3] = e[3] end
      if e[4] and (not x[4] or e[4] > x[4]) then x[4] = e[4] end
    end
  end
end

-- Writes the summed statistics of one hash: one HMGET and one HSET. With z
-- (the totals hash), also collects the new scores of the rankings (see rank).
local function flush(key, d, z)
  local fields, sis = {}, {}
  for si, _ in pairs(d) do sis[#sis + 1] = si; fields[#fields + 1] = LETTERS[si] end
  local cur = redis.call('HMGET', key, unpack(fields))
  local out = {}
  for i, si in ipairs(sis) do
    local e = d[si]
    local c, f, n, x, tc, tf = 0, 0, e[3], e[4], 0, 0
    if cur[i] then
      local n0, x0
      c, f, n0, x0, tc, tf = struct.unpack(STATS_FORMAT, cur[i])
      if not n or n0 < n then n = n0 end
      if not x or x0 > x then x = x0 end
    end
    out[#out + 1] = fields[i]
    out[#out + 1] = struct.pack(STATS_FORMAT, c + e[1], f + e[2], n, x, tc + e[5], tf + e[6])
    if z then
      -- Only what the batch changed: a symbol's count if it had initials, its
      -- followups if it had some, its latest if a new initial is the latest.
      local letter = fields[i]
      if e[1] > 0 then local a = z[1]; a[#a + 1] = c + e[1]; a[#a + 1] = letter end
      if e[2] > 0 then local a = z[2]; a[#a + 1] = f + e[2]; a[#a + 1] = letter end
      if e[4] and x == e[4] then local a = z[3]; a[#a + 1] = x; a[#a + 1] = letter end
    end
  end
  redis.call('HSET', key, unpack(out))
end

-- The rankings' new scores (z: from flush of the totals, pairs of score and
-- letter per set): one ZADD per sorted set, whatever the number of symbols.
-- Scores are the totals record's new values, set rather than added, so a set
-- cannot drift from the totals. (Numbers go to Redis with 17 significant
-- digits: whole numbers below 2^53 arrive exactly.)
local function rank(p, z)
  for j, name in ipairs(RANKINGS) do
    if #z[j] > 0 then redis.call('ZADD', p .. 'z:' .. name, unpack(z[j])) end
  end
end

-- Whether a followup's idempotency key (digest) is new around second sec;
-- a new one is remembered in sec's bucket (window seconds long). A key is
-- found from its own bucket, the one before and the one after (fronts' clocks
-- differ a little), so it is remembered for at least a window and less than
-- two; each bucket's hashes expire when no followup can look into them any
-- more (expiring: the hashes given a time to live in this call).
local function remember(p, digest, sec, window, expiring)
  local n = math.floor(sec / window)
  local part = ':' .. int(string.byte(digest, 1))
  local field = string.sub(digest, 2)
  for m = n - 1, n + 1 do
    if redis.call('HEXISTS', p .. 'k:' .. int(m) .. part, field) == 1 then return false end
  end
  local key = p .. 'k:' .. int(n) .. part
  redis.call('HSET', key, field, '')
  if not expiring[key] then
    expiring[key] = true
    -- Relative to the followup's own time, so that fronts' clocks need not
    -- agree with Redis's; NX: the first followup of the bucket sets it.
    redis.call('EXPIRE', key, int((n + 2) * window - sec + 1), 'NX')
  end
  return true
end

-- The five hashes an event of second sec counts in. Building the names costs
-- more than the rest of a small batch, and consecutive calls of a shard
-- nearly always share a second, so each shard's (prefix's) last answer is
-- kept (a pure function of its inputs, so keeping it between calls is safe;
-- one entry per shard).
local last_keys = {}
local function bucket_keys(p, sec)
  local last = last_keys[p]
  if last and last.sec == sec then return last.keys end
  local keys = { p .. 'totals' }
  for i, level in ipairs(LEVELS) do
    keys[i + 1] = p .. 'r:' .. level[1] .. ':' .. int(math.floor(sec / level[2]))
  end
  last_keys[p] = { sec = sec, keys = keys }
  return keys
end

-- A followup's receive time, made unique among the times its request's
-- record holds (rec: the record so far). Fronts stamp times independently,
-- so two followups of one uuid can get the same microsecond on two of them;
-- the archive identifies a followup by (time, uuid), so the later one takes
-- the next free microsecond instead of collapsing into the first. All of a
-- uuid's events go through its shard, one call at a time, so this sees every
-- earlier followup.
local function unique_time(rec, sec, off)
  local first = string.sub(rec, 1, 1) == ORPHAN and 2 or RECORD_BYTES + 1
  while true do
    local t = struct.pack(TIME_FORMAT, sec, off)
    local taken = false
    for pos = first, #rec, TIME_BYTES do
      if string.sub(rec, pos, pos + TIME_BYTES - 1) == t then taken = true; break end
    end
    if not taken then return sec, off, t end
    off = off + 1
    if off == 1000000 then sec, off = sec + 1, 0 end
  end
end

-- KEYS: the shard's log (declared so that a cluster routes the call to the
-- shard's slot; every key touched shares its hash tag).
-- ARGV: prefix, events: one string of INGEST_BYTES records,
-- INGEST_FORMAT: kind (i, f, or KEYED for a followup with an idempotency
-- key), uuid (16 bytes), symbol (a-z, '-' for a followup), guess (0/1, '-'),
-- second and offset. One argument per batch rather than six per event: the
-- caller builds one buffer and Redis converts one Lua string. Then, when the
-- batch has keyed followups: their digests (DIGEST_BYTES each, in order) and
-- the idempotency window in seconds.
-- Returns one string of 2 bytes per event, code then value: NEW 0 | RETRY
-- guess | CONFLICT symbol index | ATTRIBUTED symbol index | PENDING 0 |
-- REPLAYED 0 (a keyed followup whose key this uuid used within the window:
-- nothing counted, nothing logged).
local function ingest(keys, args)
  local p, events = args[1], args[2]
  local digests, window, dpos, expiring = args[3] or '', tonumber(args[4] or '0'), 1, {}
  local out, fine, logged, adoptions = {}, {}, {}, {}
  local groups, order = {}, {}
  local waiting = 0
  local first_t = false
  if #digests > 0 then
    -- Checked before the first write: an error reply part way would leave
    -- half a batch written.
    local keyed = 0
    for pos = 1, #events, INGEST_BYTES do
      if string.sub(events, pos, pos) == KEYED then keyed = keyed + 1 end
    end
    if keyed * DIGEST_BYTES ~= #digests or not window or window < 1 or window % 1 ~= 0 then
      return redis.error_reply('ERR ss_ingest: ' .. keyed .. ' keyed followups, ' .. #digests .. ' digest bytes, window ' .. tostring(args[4]))
    end
  end

  local function fine_entry(sec, entry)
    local f = fine[sec]
    if not f then f = {}; fine[sec] = f end
    f[#f + 1] = entry
  end

  -- k followups of the initial of symbol index si (answered g) received at sec, off.
  local function attribute(si, g, sec, off, k)
    local e = stats(groups, order, sec, si)
    e[2] = e[2] + k
    if g == 1 then e[6] = e[6] + k end
    fine_entry(sec, string.rep(struct.pack(FINE_FORMAT, off * 128 + si * 4 + g * 2 + 1), k))
  end

  local function log(entry, sec, off)
    logged[#logged + 1] = entry
    if not first_t then first_t = sec * 1000000 + off end
  end

  for pos = 1, #events, INGEST_BYTES do
    local kind, uid, s, g, sec, off = struct.unpack(INGEST_FORMAT, events, pos)
    local ukey, ufield = p .. 'u:' .. string.sub(uid, 1, 2), string.sub(uid, 3)
    if kind == 'i' then
      local si = string.byte(s) - 97
      local gi = g == '1' and 1 or 0
      local record = struct.pack(RECORD_FORMAT, sec, off, si * 2 + gi)
      -- A new uuid is the common case: one call. Otherwise read what is there.
      local rec = false
      if redis.call('HSETNX', ukey, ufield, record) == 0 then rec = redis.call('HGET', ukey, ufield) end
      local orphan = rec and string.sub(rec, 1, 1) == ORPHAN
      if rec and not orphan then
        local _, _, flags = struct.unpack(RECORD_FORMAT, rec)
        local rsi = math.floor(flags / 2)
        if rsi == si then
          out[#out + 1] = string.char(RETRY, flags % 2)
        else
          out[#out + 1] = string.char(CONFLICT, rsi)
        end
      else
        local adopted = 0
        if orphan then
          adopted = (#rec - 1) / 8
          redis.call('HSET', ukey, ufield, record .. string.sub(rec, 2))
          waiting = waiting - 1
          adoptions[#adoptions + 1] = string.sub(rec, 2)
        end
        local t = sec * 1000000 + off
        local e = stats(groups, order, sec, si)
        e[1] = e[1] + 1
        if gi == 1 then e[5] = e[5] + 1 end
        if not e[3] or t < e[3] then e[3] = t end
        if not e[4] or t > e[4] then e[4] = t end
        fine_entry(sec, struct.pack(FINE_FORMAT, off * 128 + si * 4 + gi * 2))
        if adopted > 0 then attribute(si, gi, sec, off, adopted) end
        -- The log entry is the event's own record plus the followups it adopted.
        log(string.sub(events, pos, pos + INGEST_BYTES - 1) .. struct.pack(ADOPTED_FORMAT, adopted), sec, off)
        out[#out + 1] = string.char(NEW, 0)
      end
    else
      -- A keyed followup's key is looked up and remembered here, in the
      -- call that counts it: a key is remembered exactly when its followup
      -- is stored.
      local replayed = false
      if kind == KEYED then
        replayed = not remember(p, string.sub(digests, dpos, dpos + DIGEST_BYTES - 1), sec, window, expiring)
        dpos = dpos + DIGEST_BYTES
      end
      if replayed then
        out[#out + 1] = string.char(REPLAYED, 0)
      else
        local rec = redis.call('HGET', ukey, ufield)
        local ftime
        if rec then sec, off, ftime = unique_time(rec, sec, off) else ftime = struct.pack(TIME_FORMAT, sec, off) end
        local orphan = rec and string.sub(rec, 1, 1) == ORPHAN
        if rec and not orphan then
          local isec, ioff, flags = struct.unpack(RECORD_FORMAT, rec)
          local si = math.floor(flags / 2)
          redis.call('HSET', ukey, ufield, rec .. ftime)
          attribute(si, flags % 2, isec, ioff, 1)
          log('f' .. uid .. LETTERS[si] .. '-' .. ftime .. NONE_ADOPTED, sec, off)
          out[#out + 1] = string.char(ATTRIBUTED, si)
        else
          if not rec then waiting = waiting + 1 end
          redis.call('HSET', ukey, ufield, (rec or ORPHAN) .. ftime)
          log('f' .. uid .. '--' .. ftime .. NONE_ADOPTED, sec, off)
          out[#out + 1] = string.char(PENDING, 0)
        end
      end
    end
  end

  -- Usually every event of a batch falls in one second: its statistics then
  -- serve all five hashes as they are; otherwise merge per hash.
  -- The totals come first in bucket_keys; their new values feed the rankings.
  local z = {{}, {}, {}}
  if #order == 1 then
    for i, key in ipairs(bucket_keys(p, order[1])) do flush(key, groups[order[1]], i == 1 and z) end
  elseif #order > 1 then
    local pending, names = {}, {}
    for _, sec in ipairs(order) do
      for _, key in ipairs(bucket_keys(p, sec)) do
        if not pending[key] then pending[key] = {}; names[#names + 1] = key end
        merge(pending[key], groups[sec])
      end
    end
    for i, key in ipairs(names) do flush(key, pending[key], i == 1 and z) end
  end
  rank(p, z)
  for sec, entries in pairs(fine) do
    redis.call('APPEND', p .. 'e:' .. int(sec), table.concat(entries))
  end
  if waiting ~= 0 then redis.call('HINCRBY', p .. 'stats', 'waiting', waiting) end
  if #logged > 0 then redis.call('HINCRBY', p .. 'stats', 'unarchived', #logged) end
  if #adoptions > 0 then
    redis.call('XADD', p .. 'log', '*', 't', int(first_t), 'n', #logged, 'e', table.concat(logged), 'a', table.concat(adoptions))
  elseif #logged > 0 then
    redis.call('XADD', p .. 'log', '*', 't', int(first_t), 'n', #logged, 'e', table.concat(logged))
  end
  return table.concat(out)
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

-- The events of log entry id, as ss_ingest wrote it (0 for an entry it did
-- not write, or one already trimmed).
local function logged_events(stream, id)
  local entry = redis.call('XRANGE', stream, id, id)[1]
  if not entry then return 0 end
  local n, e = false, false
  local fields = entry[2]
  for j = 1, #fields, 2 do
    if fields[j] == 'n' then n = tonumber(fields[j + 1]) elseif fields[j] == 'e' then e = fields[j + 1] end
  end
  if n and e and #e == n * (INGEST_BYTES + #NONE_ADOPTED) then return n end
  return 0
end

-- ARGV: prefix, events archived, entry ids... Acknowledges archived entries
-- and trims the stream to what is not yet archived, so the log holds only
-- un-archived events. The backlog count (stats unarchived) loses the events
-- of the entries this call acknowledged, dead-lettered ones included: one at
-- a time, so an entry another consumer acknowledged already counts once.
local function ack(keys, args)
  local p = args[1]
  local stream = p .. 'log'
  local acked, removed = 0, 0
  for i = 3, #args do
    if redis.call('XACK', stream, ARCHIVER, args[i]) == 1 then
      acked = acked + 1
      removed = removed + logged_events(stream, args[i])
    end
  end
  if acked > 0 then redis.call('HINCRBY', p .. 'stats', 'archived', args[2]) end
  -- Never below zero: entries logged by a version that did not count them.
  if removed > 0 and redis.call('HINCRBY', p .. 'stats', 'unarchived', -removed) < 0 then
    redis.call('HSET', p .. 'stats', 'unarchived', 0)
  end
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
-- archived events, requests waiting for their initial, backlog events}.
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
  local stats = redis.call('HMGET', p .. 'stats', 'archived', 'waiting', 'unarchived')
  return {backlog, oldest, tonumber(stats[1] or '0'), tonumber(stats[2] or '0'), tonumber(stats[3] or '0')}
end

-- KEYS: the shard's log. Writes nothing, but is declared a writing function
-- (no flags), like ss_ingest: Redis refuses it exactly when it would refuse
-- an ingest call on this server (MISCONF after a failed AOF write or
-- snapshot, OOM at maxmemory with noeviction, READONLY on a replica,
-- NOREPLICAS), before running it. /health asks it of every shard.
local function probe(keys, args)
  return 'OK'
end

-- KEYS: the shard's log. ARGV: prefix, glob pattern of the prefix's keys,
-- cursor. One step of deleting every aggregate key of a shard (all but its
-- log, dead letters, stats and remembered idempotency keys, which are not in
-- MariaDB and expire by themselves), server-side so that millions of keys
-- need no round trips. Returns {next cursor, keys deleted}; '0' when done. The keys
-- found are deleted as they are, unless one is to be kept (a few steps of
-- millions). With the bare prefix of the unsharded layout of earlier
-- versions, the glob also finds the shards' keys ('{' after the prefix) and
-- the layout record: those are kept too.
local function reset(keys, args)
  local p = args[1]
  local keep = {[p .. 'log'] = true, [p .. 'deadletter'] = true, [p .. 'stats'] = true, [p .. 'meta'] = true}
  local function kept(key)
    local next = string.sub(key, #p + 1, #p + 2)
    return keep[key] or string.sub(next, 1, 1) == '{' or next == 'k:'
  end
  local scan = redis.call('SCAN', args[3], 'MATCH', args[2], 'COUNT', 10000)
  local doomed = scan[2]
  for _, key in ipairs(doomed) do
    if kept(key) then
      doomed = {}
      for _, other in ipairs(scan[2]) do
        if not kept(other) then doomed[#doomed + 1] = other end
      end
      break
    end
  end
  for i = 1, #doomed, 5000 do
    redis.call('UNLINK', unpack(doomed, i, math.min(i + 4999, #doomed)))
  end
  return {scan[1], #doomed}
end

-- The format constants the Swift codecs must agree with, as name/value
-- pairs: byte counts are measured by packing, so they cannot drift from the
-- formats above.
local function format(keys, args)
  return {
    'time_bytes', #struct.pack(TIME_FORMAT, 0, 0),
    'stats_bytes', #struct.pack(STATS_FORMAT, 0, 0, 0, 0, 0, 0),
    'record_bytes', #struct.pack(RECORD_FORMAT, 0, 0, 0),
    'record_stride', RECORD_BYTES,
    'time_stride', TIME_BYTES,
    'fine_bytes', #struct.pack(FINE_FORMAT, 0),
    'ingest_bytes', #struct.pack(INGEST_FORMAT, 'i', string.rep('\0', 16), 'a', '0', 0, 0),
    'ingest_stride', INGEST_BYTES,
    'log_event_bytes', INGEST_BYTES + #struct.pack(ADOPTED_FORMAT, 0),
    'none_adopted', struct.unpack(ADOPTED_FORMAT, NONE_ADOPTED),
    'orphan_marker', string.byte(ORPHAN),
    'keyed_kind', string.byte(KEYED),
    'idempotency_digest_bytes', DIGEST_BYTES,
    'outcome_new', NEW, 'outcome_retry', RETRY, 'outcome_conflict', CONFLICT,
    'outcome_attributed', ATTRIBUTED, 'outcome_pending', PENDING, 'outcome_replayed', REPLAYED,
    'rankings', table.concat(RANKINGS, ','),
  }
end

redis.register_function('ss_ingest', ingest)
redis.register_function('ss_reset', reset)
redis.register_function{function_name = 'ss_status', callback = status, flags = {'no-writes'}}
redis.register_function('ss_setup', setup)
redis.register_function('ss_ack', ack)
redis.register_function('ss_probe', probe)
redis.register_function{function_name = 'ss_format', callback = format, flags = {'no-writes'}}
