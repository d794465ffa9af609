#!/usr/bin/env python3
"""Measurements behind two storage decisions (docs/architecture.md), taken on
a real Redis; nothing here is a test, the numbers are printed for the docs.

  tradeoff     time ranges: the rollup hashes SymbolStream keeps (one hash
               per time bucket, a 48-byte stats record per symbol) against a
               sorted set per time bucket and statistic (what "sorted sets for
               the dashboards" would mean for ranges): memory per bucket, the
               server time of a range read, the server time of an ingest
               batch's writes.
  idempotency  bytes per remembered Idempotency-Key: keyed followups through
               the real function library (symbolstream.lua, ss_ingest), the
               memory Redis reports before and after.
  ingest-cost  Redis's time per ss_ingest call and per event for batches of
               fresh initials and their followups (no keys), for a library
               file given (to compare two versions of symbolstream.lua).

Usage (against a Redis of one's own: it writes into database 9 and flushes it):
  set -a; . .data/<profile>/env; set +a
  /usr/bin/python3 bench/storage_measure.py tradeoff
  /usr/bin/python3 bench/storage_measure.py idempotency [--keys 200000] [--window 600]
  git show <commit>:Sources/RedisStore/symbolstream.lua > /tmp/before.lua
  /usr/bin/python3 bench/storage_measure.py ingest-cost /tmp/before.lua Sources/RedisStore/symbolstream.lua

Server times come from INFO commandstats (microseconds Redis spent in the
commands, excluding the network), so they do not depend on this client's speed.
"""

import argparse
import hashlib
import os
import socket
import statistics
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB = 9


class Redis:
    """Just enough RESP2 for this script."""

    def __init__(self, host, port, password):
        self.sock = socket.create_connection((host, port))
        self.file = self.sock.makefile("rb")
        if password:
            self.call("AUTH", password)
        self.call("SELECT", DB)

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            if isinstance(arg, str):
                arg = arg.encode()
            elif isinstance(arg, (int, float)):
                arg = repr(arg).encode() if isinstance(arg, float) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        return b"".join(out)

    def read(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")

    def call(self, *args):
        self.sock.sendall(self.encode(*args))
        return self.read()

    def pipeline(self, commands):
        self.sock.sendall(b"".join(self.encode(*c) for c in commands))
        return [self.read() for _ in commands]

    def info(self, section):
        text = self.call("INFO", section).decode()
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def used_memory(self):
        return int(self.info("memory")["used_memory"])

    def command_usec(self):
        """Total µs and calls per command since the last CONFIG RESETSTAT."""
        stats = {}
        for name, value in self.info("commandstats").items():
            fields = dict(part.split("=") for part in value.split(","))
            stats[name.removeprefix("cmdstat_")] = (int(fields["usec"]), int(fields["calls"]))
        return stats


def connect():
    return Redis(os.environ.get("SYMBOLSTREAM_REDIS_HOST", "127.0.0.1"), int(os.environ.get("SYMBOLSTREAM_REDIS_PORT", "6379")),
                 os.environ.get("SYMBOLSTREAM_REDIS_PASSWORD", ""))


def cpu_usec(redis, run):
    """CPU µs Redis's main thread spent while `run()` runs (INFO cpu): unlike
    the commands' durations it does not count time the thread was waiting
    for a core, so it holds on a busy machine."""
    def cpu():
        info = redis.info("cpu")
        return float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])
    before = cpu()
    run()
    return (cpu() - before) * 1e6


def server_usec(redis, run, commands=None):
    """Server µs spent in `commands` (all but INFO/CONFIG if None) while `run()` runs."""
    redis.call("CONFIG", "RESETSTAT")
    run()
    stats = redis.command_usec()
    return sum(usec for name, (usec, _) in stats.items()
               if name not in ("info", "config") and (commands is None or name in commands))


LETTERS = "abcdefghijklmnopqrstuvwxyz"
STATS = ["count", "followups", "first", "last", "true", "followups_true"]


def record(i, symbol):
    """A plausible stats record: six doubles, as STATS_FORMAT packs them."""
    first = 1_700_000_000_000_000 + i * 1_000_000
    return (3.0 + i % 7, 1.0 + i % 3, float(first), float(first + 900_000), 2.0, 1.0)


# ---- tradeoff ------------------------------------------------------------------

def fill(redis, buckets, symbols):
    """The same statistics both ways: hash h:<n> (field per symbol, 48 bytes),
    and six sorted sets z:<stat>:<n> (member per symbol, the value as score)."""
    hashes, zsets = [], []
    for n in range(buckets):
        fields = []
        for s in symbols:
            fields += [s, struct.pack(">dddddd", *record(n, s))]
        hashes.append(("HSET", f"h:{n}", *fields))
        for k, stat in enumerate(STATS):
            members = []
            for s in symbols:
                members += [repr(record(n, s)[k]), s]
            zsets.append(("ZADD", f"z:{stat}:{n}", *members))
    return hashes, zsets


def memory_per_bucket(redis, buckets, symbols):
    redis.call("FLUSHDB")
    hashes, zsets = fill(redis, buckets, symbols)
    before = redis.used_memory()
    for start in range(0, len(hashes), 500):
        redis.pipeline(hashes[start:start + 500])
    middle = redis.used_memory()
    for start in range(0, len(zsets), 500):
        redis.pipeline(zsets[start:start + 500])
    after = redis.used_memory()
    usage_h = sum(redis.pipeline([("MEMORY", "USAGE", f"h:{n}", "SAMPLES", "0") for n in range(buckets)]))
    usage_z = sum(redis.pipeline([("MEMORY", "USAGE", f"z:{s}:{n}", "SAMPLES", "0") for n in range(buckets) for s in STATS]))
    encodings = (redis.call("OBJECT", "ENCODING", "h:0").decode(), redis.call("OBJECT", "ENCODING", f"z:count:0").decode())
    return ((middle - before) / buckets, (after - middle) / buckets, usage_h / buckets, usage_z / buckets, encodings)


def read_cost(redis, buckets, repetitions=30):
    """One range read over `buckets` buckets: HGETALL each (the client sums)
    against ZUNION of each statistic's sets (Redis sums)."""
    keys_h = [("HGETALL", f"h:{n}") for n in range(buckets)]
    aggregate = {"first": "MIN", "last": "MAX"}
    keys_z = [("ZUNION", buckets, *[f"z:{stat}:{n}" for n in range(buckets)], "AGGREGATE", aggregate.get(stat, "SUM"), "WITHSCORES")
              for stat in STATS]
    wall_h, wall_z = [], []

    def run_h():
        for _ in range(repetitions):
            started = time.perf_counter()
            replies = redis.pipeline(keys_h)
            totals = {}
            for reply in replies:  # what RedisEventStore does with them
                for i in range(0, len(reply), 2):
                    values = struct.unpack(">dddddd", reply[i + 1])
                    totals[reply[i]] = [a + b for a, b in zip(totals.get(reply[i], [0] * 6), values)]
            wall_h.append(time.perf_counter() - started)

    def run_z():
        for _ in range(repetitions):
            started = time.perf_counter()
            redis.pipeline(keys_z)
            wall_z.append(time.perf_counter() - started)

    server_h = server_usec(redis, run_h) / repetitions
    server_z = server_usec(redis, run_z) / repetitions
    return server_h, server_z, statistics.median(wall_h) * 1e3, statistics.median(wall_z) * 1e3


# One ingest batch's writes to the five buckets an event counts in (totals and
# four rollup levels), both ways, as scripts so that only Redis's work is timed.
WRITE_HASH = """
local rec = struct.pack('>dddddd', 1, 0, 1, 1, 1, 0)
for _, key in ipairs(KEYS) do
  local fields = {}
  for i = 1, #ARGV do fields[#fields + 1] = ARGV[i] end
  local cur = redis.call('HMGET', key, unpack(fields))
  local out = {}
  for i, f in ipairs(fields) do
    local c, fo, n, x, t, ft = 0, 0, 1e15, 0, 0, 0
    if cur[i] then c, fo, n, x, t, ft = struct.unpack('>dddddd', cur[i]) end
    out[#out + 1] = f
    out[#out + 1] = struct.pack('>dddddd', c + 1, fo, math.min(n, 1e15), math.max(x, 1e15), t + 1, ft)
  end
  redis.call('HSET', key, unpack(out))
end
return 0
"""
WRITE_ZSET = """
for _, key in ipairs(KEYS) do
  local low, high = {}, {}
  for i = 1, #ARGV do
    redis.call('ZINCRBY', key .. ':count', 1, ARGV[i])
    redis.call('ZINCRBY', key .. ':followups', 0, ARGV[i])
    redis.call('ZINCRBY', key .. ':true', 1, ARGV[i])
    redis.call('ZINCRBY', key .. ':followups_true', 0, ARGV[i])
    low[#low + 1] = 1e15; low[#low + 1] = ARGV[i]
    high[#high + 1] = 1e15; high[#high + 1] = ARGV[i]
  end
  redis.call('ZADD', key .. ':first', 'LT', unpack(low))
  redis.call('ZADD', key .. ':last', 'GT', unpack(high))
end
return 0
"""


def write_cost(redis, symbols, batches=2000):
    keys = ["w:totals", "w:s:1", "w:m:1", "w:h:1", "w:d:1"]
    sha_h = redis.call("SCRIPT", "LOAD", WRITE_HASH).decode()
    sha_z = redis.call("SCRIPT", "LOAD", WRITE_ZSET).decode()

    def batch(sha):
        return lambda: redis.pipeline([("EVALSHA", sha, len(keys), *keys, *symbols)] * batches)

    redis.call("FLUSHDB")
    hash_usec = server_usec(redis, batch(sha_h), {"evalsha"}) / batches
    redis.call("FLUSHDB")
    zset_usec = server_usec(redis, batch(sha_z), {"evalsha"}) / batches
    return hash_usec, zset_usec


def tradeoff(args):
    redis = connect()
    print(f"Redis {redis.info('server')['redis_version']}; database {DB} is flushed")
    print("\nmemory per time bucket (6 statistics per symbol; hash: one key, sorted sets: six keys)")
    print("symbols  hash B (used_memory)  zsets B (used_memory)  hash B (MEMORY USAGE)  zsets B (MEMORY USAGE)  encodings")
    for symbols in (LETTERS[:3], LETTERS):
        h, z, uh, uz, enc = memory_per_bucket(redis, args.buckets, symbols)
        print(f"{len(symbols):7d}  {h:20.0f}  {z:21.0f}  {uh:21.0f}  {uz:22.0f}  {enc[0]}/{enc[1]}")
    print("\none range read (server µs per read from commandstats; client ms median incl. decoding and summing in Python)")
    print("buckets  symbols  hash: HGETALL each  zsets: 6 ZUNION  hash client ms  zsets client ms")
    for symbols in (LETTERS[:3], LETTERS):
        redis.call("FLUSHDB")
        hashes, zsets = fill(redis, 1440, symbols)
        for commands in (hashes, zsets):
            for start in range(0, len(commands), 500):
                redis.pipeline(commands[start:start + 500])
        for buckets in (282, 1440):
            sh, sz, wh, wz = read_cost(redis, buckets)
            print(f"{buckets:7d}  {len(symbols):7d}  {sh:18.0f}  {sz:15.0f}  {wh:14.2f}  {wz:15.2f}")
    print("\none ingest batch's bucket writes (totals + 4 rollup levels; server µs per batch, EVALSHA)")
    print("symbols touched  hashes: HMGET+HSET per bucket  zsets: 4 ZINCRBY per symbol + ZADD LT/GT per bucket")
    for symbols in (LETTERS[:3], LETTERS):
        h, z = write_cost(redis, list(symbols))
        print(f"{len(symbols):15d}  {h:30.1f}  {z:49.1f}")
    redis.call("FLUSHDB")


# ---- idempotency ----------------------------------------------------------------

def idempotency(args):
    """Keyed followups of fresh uuids through ss_ingest; what the remembered
    keys (the k:<bucket>:<part> hashes) cost, and what the same followups cost
    without a key (so the difference is the key's alone)."""
    redis = connect()
    source = (ROOT / "Sources/RedisStore/symbolstream.lua").read_bytes()
    redis.call("FUNCTION", "LOAD", "REPLACE", source)
    constants = redis.call("FCALL_RO", "ss_format", 1, "m:{0}:log", "m:{0}:")
    constants = {constants[i].decode(): constants[i + 1] for i in range(0, len(constants), 2)}
    digest_bytes = constants["idempotency_digest_bytes"]
    print(f"Redis {redis.info('server')['redis_version']}; hash-max-listpack-entries "
          f"{redis.call('CONFIG', 'GET', 'hash-max-listpack-entries')[1].decode()}; database {DB} is flushed")
    second = int(time.time())

    def run(keyed, count):
        redis.call("FLUSHDB")
        before = redis.used_memory()
        batch = 256
        for start in range(0, count, batch):
            events, digests = [], []
            for i in range(start, min(start + batch, count)):
                uuid = hashlib.md5(b"uuid%d" % i).digest()
                events.append(struct.pack(">c16scc", b"k" if keyed else b"f", uuid, b"-", b"-") + struct.pack(">Q", second << 24 | i % 1_000_000))
                if keyed:
                    digests.append(hashlib.sha256(uuid + b"key-%d" % i).digest()[:digest_bytes])
            redis.call("FCALL", "ss_ingest", 1, "m:{0}:log", "m:{0}:", b"".join(events), b"".join(digests), args.window)
        redis.call("DEL", "m:{0}:log")  # the event log is archived away in service; not part of a key's cost
        after = redis.used_memory()
        keys = redis.call("KEYS", "m:{0}:k:*")
        usage = sum(redis.pipeline([("MEMORY", "USAGE", k, "SAMPLES", "0") for k in keys])) if keys else 0
        entries = sum(redis.pipeline([("HLEN", k) for k in keys])) if keys else 0
        encodings = sorted(set(e.decode() for e in redis.pipeline([("OBJECT", "ENCODING", k) for k in keys]))) if keys else []
        return after - before, usage, len(keys), entries, encodings

    print("keys     followups without key: used_memory B   with key: used_memory B   difference per key   "
          "k: hashes  MEMORY USAGE per key  encodings")
    for count in args.keys:
        plain, _, _, _, _ = run(False, count)
        keyed, usage, hashes, entries, encodings = run(True, count)
        if entries != count:
            sys.exit(f"expected {count} remembered keys, found {entries}")
        print(f"{count:7d}  {plain:36d}  {keyed:23d}  {(keyed - plain) / count:18.1f}  {hashes:9d}  {usage / count:20.1f}  {','.join(encodings)}")
    redis.call("FLUSHDB")


# ---- ingest cost ----------------------------------------------------------------

def ingest_cost(args):
    """The same batches through each library: 2 initials to 1 followup, fresh
    uuids, 26 symbols, times a few µs apart (a batch's events share a second,
    as under load). Interleaved runs, median of the rounds."""
    redis = connect()
    second = int(time.time())
    rng = __import__("random").Random(7)

    def batch(start, size):
        events = []
        for i in range(start, start + size):
            uuid = hashlib.md5(b"r%d" % (i // 3 * 3)).digest()
            if i % 3 < 2:
                uuid = hashlib.md5(b"r%d" % i).digest()
                events.append(struct.pack(">c16scc", b"i", uuid, LETTERS[rng.randrange(26)].encode(), b"1") + struct.pack(">Q", second << 24 | i % 1_000_000))
            else:
                uuid = hashlib.md5(b"r%d" % (i - 1)).digest()
                events.append(struct.pack(">c16scc", b"f", uuid, b"-", b"-") + struct.pack(">Q", second << 24 | i % 1_000_000))
        return b"".join(events)

    batches = [batch(n * args.batch, args.batch) for n in range(args.calls)]
    results = {path: [] for path in args.libraries}
    cpu = {path: [] for path in args.libraries}
    for _ in range(args.rounds):
        for path in args.libraries:
            redis.call("FLUSHDB")
            redis.call("FUNCTION", "LOAD", "REPLACE", Path(path).read_bytes())

            def run():
                for start in range(0, len(batches), 50):
                    redis.pipeline([("FCALL", "ss_ingest", 1, "c:{0}:log", "c:{0}:", b) for b in batches[start:start + 50]])

            results[path].append(server_usec(redis, lambda: cpu[path].append(cpu_usec(redis, run) / args.calls), {"fcall"}) / args.calls)
        args.libraries.append(args.libraries.pop(0))  # each library first in turn
    redis.call("FLUSHDB")
    redis.call("FUNCTION", "LOAD", "REPLACE", (ROOT / "Sources/RedisStore/symbolstream.lua").read_bytes())
    print(f"Redis {redis.info('server')['redis_version']}; {args.calls} calls of {args.batch} events, {args.rounds} rounds (median)")
    print("library                                             call µs (commandstats)   CPU µs per call (main thread)   CPU µs per event")
    for path, values in results.items():
        median, used = statistics.median(values), statistics.median(cpu[path])
        print(f"{path:50s}  {median:22.1f}  {used:30.1f}  {used / args.batch:16.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("tradeoff")
    t.add_argument("--buckets", type=int, default=2000)
    i = sub.add_parser("idempotency")
    i.add_argument("--keys", type=int, nargs="+", default=[10_000, 100_000, 500_000])
    i.add_argument("--window", type=int, default=3600)
    c = sub.add_parser("ingest-cost")
    c.add_argument("libraries", nargs="+")
    c.add_argument("--batch", type=int, default=32)
    c.add_argument("--calls", type=int, default=2000)
    c.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    {"tradeoff": tradeoff, "idempotency": idempotency, "ingest-cost": ingest_cost}[args.what](args)


if __name__ == "__main__":
    main()
