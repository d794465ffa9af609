#!/usr/bin/env python3
"""End to end: followups with an idempotency key count once, over HTTP and
/stream, against the built server and the real stores.

1. HTTP, the way a client retries: a query-string POST /followup with an
   `Idempotency-Key` header whose answer never arrives (the client gives up
   after 0.3 s while Redis holds writes back, the server stores it all the
   same), then the same request again: `200 hooray`, `Idempotent-Replayed:
   true`, counted once. Without a key the same retry counts twice (behaviour
   unchanged). A retry after a 503 counts exactly once, whether or not the
   first attempt was stored. The same key sent by 8 threads at once counts
   once; keys of other uuids are independent; a keyed followup before its
   initial is adopted once; bad keys are 400s naming the header, storing
   nothing.
2. Random keyed traffic with retries from several threads.
3. /stream: a key repeated in one message, in a later message, and on a new
   connection after a message whose reply was never read; a bad key is that
   event's 400 alone.
4. Every uuid's followups in /requests/{uuid}, every symbol's dashboard and
   the MariaDB rows are exactly what was counted; /health counts the replays;
   `symbolstream verify` is clean with keys remembered; after `symbolstream
   rebuild` (the service stopped) a retry of a remembered key still counts
   nothing.

Run by ./test.sh; by hand: `set -a; . .data/test/env; set +a;
SYMBOLSTREAM_BINARY=.build/debug/symbolstream python3 Tests/e2e/test_idempotency.py`.
"""

import json
import random
import string
import threading
import time
import uuid as uuidlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from harness import MariaDB, Server, fail, log, redis_cli
from wsclient import WebSocket

rng = random.Random(1313)
LETTERS = string.ascii_lowercase


def new_uuid():
    return str(uuidlib.UUID(int=rng.getrandbits(128), version=4))


class Ledger:
    """What the server must hold: each uuid's symbol and counted followups, and
    the replays it reported."""

    def __init__(self):
        self.lock = threading.Lock()
        self.symbols = {}
        self.followups = Counter()
        self.replays = 0

    def initial(self, url, request_id, symbol):
        response = requests.post(f"{url}/initial", params={"uuid": request_id, "symbol": symbol}, timeout=10)
        if response.status_code != 200 or response.text not in ("True", "False"):
            fail(f"initial {request_id}: {response.status_code} {response.text!r}")
        with self.lock:
            self.symbols[request_id] = symbol

    def followup(self, url, request_id, key=None, replayed=None, session=None):
        """A followup as the traffic client sends it (query string, empty
        body), with the header when keyed; checks the answer and, when given,
        whether it was a replay. Returns whether it was."""
        headers = {"Idempotency-Key": key} if key else {}
        response = (session or requests).post(f"{url}/followup", params={"uuid": request_id}, headers=headers, timeout=10)
        if response.status_code != 200 or response.text != "hooray":
            fail(f"followup {request_id} {key}: {response.status_code} {response.text!r}")
        was = response.headers.get("Idempotent-Replayed") == "true"
        if replayed is not None and was != replayed:
            fail(f"followup {request_id} key {key}: replayed {was}, expected {replayed}")
        with self.lock:
            if was:
                self.replays += 1
            else:
                self.followups[request_id] += 1
        return was


def record(url, request_id):
    return requests.get(f"{url}/requests/{request_id}", timeout=5).json()


def wait_for_followups(url, request_id, count, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(record(url, request_id)["followups"]) >= count:
            return True
        time.sleep(0.05)
    return False


def abandoned_followup(server, request_id, key, pause_ms=1500):
    """A followup the client gives up on: Redis holds writes back, the client
    times out after 0.3 s and goes away; the server's call waits in Redis
    (its Redis timeout is longer than the pause) and runs when the pause ends."""
    redis_cli(server.env, "CLIENT", "PAUSE", str(pause_ms), "WRITE", check=True)
    headers = {"Idempotency-Key": key} if key else {}
    try:
        response = requests.post(f"{server.url}/followup", params={"uuid": request_id}, headers=headers, timeout=0.3)
        fail(f"the followup was answered ({response.status_code}) while Redis held writes back")
    except requests.Timeout:
        pass
    time.sleep(pause_ms / 1000 + 0.2)


def check_http(server, ledger):
    url = server.url
    # A retry after a timeout: the first attempt was stored, the retry is a replay.
    a = new_uuid()
    ledger.initial(url, a, "e")
    abandoned_followup(server, a, "retry-after-timeout")
    if not wait_for_followups(url, a, 1):
        fail("the abandoned followup was not stored")
    ledger.followups[a] += 1  # counted, though its client never heard
    ledger.followup(url, a, "retry-after-timeout", replayed=True)
    ledger.followup(url, a, '"retry-after-timeout"', replayed=True)  # the draft's quoted form: the same key
    if len(record(url, a)["followups"]) != 1:
        fail(f"the retry counted again: {record(url, a)}")
    # Without a key the same retry counts twice (behaviour unchanged).
    b = new_uuid()
    ledger.initial(url, b, "b")
    abandoned_followup(server, b, None)
    if not wait_for_followups(url, b, 1):
        fail("the abandoned followup without a key was not stored")
    ledger.followups[b] += 1
    ledger.followup(url, b)
    if len(record(url, b)["followups"]) != 2:
        fail(f"without a key a retry should count again: {record(url, b)}")
    log("a retry after a timeout: with its key counted once (Idempotent-Replayed: true), without counted twice")

    # A retry after a 503 (Redis held back past the service's Redis timeout):
    # exactly once, whether or not the first attempt got stored.
    c = new_uuid()
    ledger.initial(url, c, "c")
    redis_cli(server.env, "CLIENT", "PAUSE", "6500", "WRITE", check=True)
    started = time.time()
    response = requests.post(f"{url}/followup", params={"uuid": c}, headers={"Idempotency-Key": "after-503"}, timeout=15)
    if response.status_code != 503 or "error" not in response.json():
        fail(f"expected a 503 while Redis held writes back: {response.status_code} {response.text!r}")
    time.sleep(max(0.0, 6.7 - (time.time() - started)))
    server.wait_healthy()
    replayed = ledger.followup(url, c, "after-503")
    if replayed:
        ledger.followups[c] += 1  # the first attempt was stored after all
    if len(record(url, c)["followups"]) != 1:
        fail(f"a retry after a 503 must count exactly once: {record(url, c)}")
    log(f"a retry after a 503 counted once (the first attempt {'was' if replayed else 'was not'} stored)")

    # The same key from 8 threads at once: one counts, seven are replays.
    d = new_uuid()
    ledger.initial(url, d, "d")
    with ThreadPoolExecutor(8) as pool:
        replays = list(pool.map(lambda _: ledger.followup(url, d, "burst"), range(8)))
    if replays.count(False) != 1:
        fail(f"8 concurrent sends of one key: {replays.count(False)} counted")
    # Keys are per uuid; keys of one uuid are independent of each other.
    ledger.followup(url, a, "burst", replayed=False)
    ledger.followup(url, d, "another", replayed=False)
    # A keyed followup before its initial, retried: adopted once.
    e = new_uuid()
    ledger.followup(url, e, "early", replayed=False)
    ledger.followup(url, e, "early", replayed=True)
    ledger.initial(url, e, "a")
    ledger.followup(url, e, "early", replayed=True)
    # Bad keys: 400 naming the header, nothing stored.
    f = new_uuid()
    ledger.initial(url, f, "z")
    for key in ["", "a b", "x" * 256, "caf\u00e9".encode().decode("latin-1"), '"open']:
        response = requests.post(f"{url}/followup", params={"uuid": f}, headers={"Idempotency-Key": key}, timeout=10)
        if response.status_code != 400 or not response.json()["error"].startswith("Idempotency-Key: "):
            fail(f"key {key!r}: {response.status_code} {response.text!r}")
    if record(url, f)["followups"]:
        fail("a followup with a bad key was stored")
    log("concurrent sends of one key count once; keys are per uuid; an early keyed followup is adopted once; bad keys are 400s")
    return a


def keyed_traffic(server, ledger, requests_count=300, workers=6):
    """Initials, keyed followups and their retries in random order over a few threads."""
    url = server.url
    plans = []
    for _ in range(requests_count):
        request_id = new_uuid()
        sends = []
        for n in range(rng.choice([0, 1, 1, 2, 3])):
            key = f"{request_id[:8]}-{n}"
            sends += [key] * rng.choice([1, 1, 2, 3])
        sends += [None] * rng.choice([0, 0, 1])
        rng.shuffle(sends)
        plans.append((request_id, rng.choice(LETTERS), sends))

    def run(plan):
        request_id, symbol, sends = plan
        session = requests.Session()
        ledger.initial(url, request_id, symbol)
        for key in sends:
            ledger.followup(url, request_id, key, session=session)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, plans))
    sent = sum(len(p[2]) for p in plans)
    keys = sum(len({k for k in p[2] if k}) for p in plans)
    unkeyed = sum(p[2].count(None) for p in plans)
    counted = sum(ledger.followups[p[0]] for p in plans)
    if counted != keys + unkeyed:
        fail(f"keyed traffic: {counted} followups counted, expected {keys} keys + {unkeyed} without a key")
    log(f"keyed traffic: {requests_count} requests, {sent} followups sent, {counted} counted ({sent - counted} replays)")


def check_stream(server, ledger):
    port = server.port
    v, w = new_uuid(), new_uuid()
    ws = WebSocket("127.0.0.1", port)
    reply = json.loads(ws.request(json.dumps([
        {"type": "initial", "uuid": v, "symbol": "o"},
        {"type": "followup", "uuid": v, "idempotency_key": "s-1"},
        {"type": "followup", "uuid": v, "idempotency_key": "s-1"},
        {"type": "followup", "uuid": v, "idempotency_key": "bad key"},
        {"type": "followup", "uuid": w, "idempotency_key": "s-1"},
    ])))
    if reply[:3] + reply[4:] != [{"guess": reply[0].get("guess")}, {"ok": True}, {"ok": True}, {"ok": True}] or not isinstance(reply[0].get("guess"), bool):
        fail(f"stream reply: {reply}")
    if reply[3].get("status") != 400 or not reply[3].get("error", "").startswith("idempotency_key: "):
        fail(f"a bad key in /stream: {reply[3]}")
    ledger.symbols[v] = "o"
    ledger.followups[v] += 1
    ledger.followups[w] += 1
    ledger.replays += 1
    if json.loads(ws.request(json.dumps([{"type": "followup", "uuid": v, "idempotency_key": "s-1"}]))) != [{"ok": True}]:
        fail("a later message's retry")
    ledger.replays += 1
    # A message whose reply the client never reads (the connection drops),
    # then the same message again on a new connection.
    ws.send_text(json.dumps([{"type": "followup", "uuid": v, "idempotency_key": "s-2"}]))
    ws.sock.close()
    stored = wait_for_followups(server.url, v, 2, timeout=3)
    again = WebSocket("127.0.0.1", port)
    if json.loads(again.request(json.dumps([{"type": "followup", "uuid": v, "idempotency_key": "s-2"}]))) != [{"ok": True}]:
        fail("the resent message")
    again.close()
    ledger.followups[v] += 1
    if stored:
        ledger.replays += 1
    if len(record(server.url, v)["followups"]) != 2:
        fail(f"/stream keys: {record(server.url, v)}")
    log(f"/stream: a key counts once in one message, across messages and across connections (the unread message {'was' if stored else 'was not'} stored)")


def check_stores(server, ledger):
    url = server.url
    for request_id, symbol in ledger.symbols.items():
        got = record(url, request_id)
        if got["symbol"] != symbol or len(got["followups"]) != ledger.followups[request_id]:
            fail(f"/requests/{request_id}: {got}, expected {symbol} with {ledger.followups[request_id]} followups")
    by_symbol = Counter()
    for request_id, count in ledger.followups.items():
        if request_id in ledger.symbols:
            by_symbol[ledger.symbols[request_id]] += count
    for letter in LETTERS:
        got = requests.get(f"{url}/dashboard/symbol/{letter}", timeout=5).json()["followups"]
        if got != by_symbol[letter]:
            fail(f"/dashboard/symbol/{letter}: {got} followups, counted {by_symbol[letter]}")
    server.wait_archived()
    rows = MariaDB(server.env, server.database).query(
        "SELECT CAST(uuid AS CHAR), COUNT(*) FROM events WHERE kind = 'followup' GROUP BY uuid")
    archived = Counter({r[0]: int(r[1]) for r in rows})
    if archived != +ledger.followups:
        differ = {k: (archived[k], ledger.followups[k]) for k in set(archived) | set(ledger.followups) if archived[k] != ledger.followups[k]}
        fail(f"MariaDB followup rows differ from what was counted: {list(differ.items())[:5]}")
    # /health counts what this process answered: every replay; the followups
    # whose answer never reached their client may or may not be among its
    # accepted ones, so those are only logged.
    health = server.health()["requests"]
    if health["followup_replays"] != ledger.replays:
        fail(f"/health counts {health['followup_replays']} replays; the clients saw {ledger.replays}")
    out = server.command("verify", check=False)
    if out.returncode != 0:
        fail(f"verify: {out.stdout[-3000:]}")
    log(f"{len(ledger.symbols)} records, 26 dashboards and {sum(archived.values())} MariaDB followup rows agree, {ledger.replays} replays "
        f"(/health: {health['followups_accepted']} followups accepted); {out.stdout.strip().splitlines()[-1]}")


def main():
    # Redis calls may wait 5 s (longer than the pauses that stand for a slow Redis).
    server = Server(seed=13, extra_args=["--redis-timeout", "5"]).start()
    ledger = Ledger()
    first = check_http(server, ledger)
    keyed_traffic(server, ledger)
    check_stream(server, ledger)
    check_stores(server, ledger)

    # rebuild keeps the remembered keys (they are not in MariaDB to be rebuilt from).
    if server.stop() != 0:
        fail("server did not stop cleanly")
    out = server.command("rebuild", check=False)
    if out.returncode != 0:
        fail(f"rebuild exited {out.returncode}: {out.stdout}\n{out.stderr[-3000:]}")
    server.start(fresh_database=False)
    ledger.replays = 0  # /health counts this process's replays
    ledger.followup(server.url, first, "retry-after-timeout", replayed=True)
    ledger.followup(server.url, first, "a-new-key", replayed=False)
    check_stores(server, ledger)
    log("after a rebuild a remembered key still counts once")
    if server.stop() != 0:
        fail("server did not stop cleanly")
    MariaDB(server.env, server.database).query(f"DROP DATABASE `{server.database}`", database=False)
    log("PASS")


if __name__ == "__main__":
    main()
