#!/usr/bin/env python3
"""End to end over /stream: drive the built server through real WebSockets
(several connections at once, batches of events with retries, conflicts,
followups before their initial and bad events mixed in), then check every
reply, both dashboards, /requests/{uuid} and the MariaDB archive against what
was sent; then the whole-message errors and close codes, a client pushing
into a stalled Redis (answered 503 per message, never hanging, the server's
memory flat while TCP holds the client back), and a shutdown that a client
ignoring the close handshake cannot hold up.

Run by ./test.sh; by hand: `source .data/test/env && python3 Tests/e2e/test_stream.py`.
"""

import json
import random
import string
import threading
import time
import uuid as uuidlib
from collections import Counter, defaultdict

import requests

from harness import MariaDB, deployment, expected_summary, fail, fronts_of, log, redis_cli_each, requests_counted
from wsclient import BINARY, CONTINUATION, PING, TEXT, Closed, Refused, WebSocket

CONNECTIONS = 4
REQUESTS_PER_CONNECTION = 500
LETTERS = string.ascii_lowercase
VOWELS = set("aeiou")

rng = random.Random(5005)


def initial(request_id, symbol):
    return {"type": "initial", "uuid": request_id, "symbol": symbol}


def followup(request_id):
    return {"type": "followup", "uuid": request_id}


BAD_EVENTS = [
    # (event, field named in the error, reason counted)
    ({"type": "initial", "symbol": "e"}, "uuid", "missing_parameter"),
    ({"type": "initial", "uuid": "nope", "symbol": "e"}, "uuid", "invalid_uuid"),
    ({"type": "initial", "uuid": "' OR 1=1; DROP TABLE events; --", "symbol": "e"}, "uuid", "invalid_uuid"),
    ({"type": "initial", "uuid": 12345, "symbol": "e"}, "uuid", "invalid_uuid"),
    ({"type": "initial", "uuid": str(uuidlib.UUID(int=1)), "symbol": "ab"}, "symbol", "invalid_symbol"),
    ({"type": "initial", "uuid": str(uuidlib.UUID(int=2)), "symbol": "é"}, "symbol", "invalid_symbol"),
    ({"type": "initial", "uuid": str(uuidlib.UUID(int=3))}, "symbol", "missing_parameter"),
    ({"type": "followup", "uuid": "1234"}, "uuid", "invalid_uuid"),
    ({"type": "followup"}, "uuid", "missing_parameter"),
    ({"type": "dashboard"}, "type", "invalid_message"),
    ({"uuid": str(uuidlib.UUID(int=5))}, "type", "missing_parameter"),
]


class Connection(threading.Thread):
    """One client: plans requests, sends them as batches of events, checks each reply."""

    def __init__(self, server, number):
        super().__init__(daemon=True)
        self.server = server
        self.rng = random.Random(1000 + number)
        self.answers = {}          # uuid -> True/False, the accepted initial's guess
        self.symbols = {}          # uuid -> accepted symbol
        self.followups = Counter()  # uuid -> followups sent (all count)
        self.rejected = Counter()  # reason -> count
        self.events = 0
        self.errors = []

    def plan(self):
        """Events in the order a client would send them, each with what it expects back."""
        events = []
        later = []  # followups and retries that come after their initial
        for _ in range(REQUESTS_PER_CONNECTION):
            request_id = str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))
            symbol = self.rng.choice(LETTERS)
            for _ in range(self.rng.choice([1, 2]) if self.rng.random() < 0.05 else 0):
                events.append((followup(request_id), ("ok",)))  # before its initial
            upper = self.rng.random() < 0.05
            events.append((initial(request_id.upper() if upper else request_id, symbol.upper() if upper else symbol),
                           ("initial", request_id, symbol)))
            if self.rng.random() < 0.05:
                later.append((initial(request_id, symbol), ("retry", request_id)))
            if self.rng.random() < 0.03:
                other = self.rng.choice([c for c in LETTERS if c != symbol])
                later.append((initial(request_id, other), ("conflict", request_id)))
            for _ in range(2 if self.rng.random() < 0.05 else (1 if self.rng.random() < 0.3 else 0)):
                later.append((followup(request_id), ("ok",)))
            if self.rng.random() < 0.04:
                event, field, reason = self.rng.choice(BAD_EVENTS)
                events.append((event, ("bad", field, reason)))
            # Followups and retries trail behind by a few requests, like a real client.
            while later and self.rng.random() < 0.5:
                events.append(later.pop(0))
        return events + later

    def check(self, event, expected, result):
        kind = expected[0]
        if kind == "initial":
            _, request_id, symbol = expected
            if set(result) != {"guess"} or not isinstance(result["guess"], bool):
                return f"initial {request_id}: {result}"
            self.answers[request_id] = result["guess"]
            self.symbols[request_id] = symbol
        elif kind == "retry":
            if result != {"guess": self.answers.get(expected[1])}:
                return f"retry {expected[1]}: {result}, first answer {self.answers.get(expected[1])}"
        elif kind == "conflict":
            if result.get("status") != 409 or not result.get("error", "").startswith("uuid: "):
                return f"conflict {expected[1]}: {result}"
            self.rejected["uuid_conflict"] += 1
        elif kind == "ok":
            if result != {"ok": True}:
                return f"followup {event}: {result}"
            self.followups[event["uuid"]] += 1
        elif kind == "bad":
            _, field, reason = expected
            if result.get("status") != 400 or not result.get("error", "").startswith(field + ":"):
                return f"bad event {event}: {result}"
            self.rejected[reason] += 1
        return None

    def run(self):
        try:
            events = self.plan()
            ws = WebSocket("127.0.0.1", self.server.port)
            position = 0
            while position < len(events):
                batch = events[position:position + self.rng.randint(1, 150)]
                position += len(batch)
                reply = json.loads(ws.request(json.dumps([event for event, _ in batch])))
                if not isinstance(reply, list) or len(reply) != len(batch):
                    self.errors.append(f"reply to {len(batch)} events: {reply}")
                    return
                for (event, expected), result in zip(batch, reply):
                    problem = self.check(event, expected, result)
                    if problem:
                        self.errors.append(problem)
                self.events += len(batch)
            if ws.close() != 1000:
                self.errors.append("close handshake did not answer 1000")
        except Exception as error:  # noqa: BLE001 - report any failure of the thread
            self.errors.append(f"connection failed: {error!r}")


def check_traffic(server, connections):
    answers, symbols, followups = {}, {}, Counter()
    for connection in connections:
        answers.update(connection.answers)
        symbols.update(connection.symbols)
        followups.update(connection.followups)
    session = requests.Session()
    times = {}
    for request_id, symbol in symbols.items():
        record = session.get(f"{server.url}/requests/{request_id}", timeout=5).json()
        if record["symbol"] != symbol or record["guess"] != answers[request_id]:
            fail(f"/requests/{request_id}: {record}, sent {symbol}, answered {answers[request_id]}")
        if len(record["followups"]) != followups[request_id]:
            fail(f"/requests/{request_id}: followups {record['followups']}, sent {followups[request_id]}")
        times[request_id] = record["received_at"]

    # The guess model: about 90% right for vowels and consonants.
    right, total = Counter(), Counter()
    for request_id, symbol in symbols.items():
        if symbol != "y":
            kind = "vowel" if symbol in VOWELS else "consonant"
            total[kind] += 1
            right[kind] += answers[request_id] == (kind == "vowel")
    for kind in total:
        if not 0.8 <= right[kind] / total[kind] <= 0.97:
            fail(f"guesses for {kind}s right {right[kind] / total[kind]:.1%} of the time, expected about 90%")

    by_symbol, followups_by_symbol = defaultdict(list), Counter()
    for request_id, symbol in symbols.items():
        by_symbol[symbol].append(times[request_id])
        followups_by_symbol[symbol] += followups[request_id]
    for symbol in LETTERS:
        got = session.get(f"{server.url}/dashboard/symbol/{symbol}", timeout=5).json()
        want = expected_summary(symbol, by_symbol[symbol], followups_by_symbol[symbol])
        if got != want:
            fail(f"/dashboard/symbol/{symbol}: {got} != {want}")
    all_times = sorted(times.values())
    ranges = [(all_times[0][:10], "2100-01-01")] + [tuple(sorted(rng.sample(all_times, 2))) for _ in range(60)]
    for lower, upper in ranges:
        lower, upper = lower.replace(" ", "T"), upper.replace(" ", "T")
        got = session.get(f"{server.url}/dashboard/range/{lower}/{upper}", timeout=5).json()
        lo, hi = lower.replace("T", " "), upper.replace("T", " ")
        if len(lo) == 10:
            lo += " 00:00:00.000000"
        if len(hi) == 10:
            hi += " 00:00:00.000000"
        want = []
        for symbol in LETTERS:
            inside = [r for r, s in symbols.items() if s == symbol and lo <= times[r] < hi]
            want.append(expected_summary(symbol, [times[r] for r in inside], sum(followups[r] for r in inside)))
        if got != want:
            fail(f"/dashboard/range/{lower}/{upper} differs: {[(w, g) for w, g in zip(want, got) if w != g][:3]}")
    log(f"dashboards and {len(symbols)} request records match, {len(ranges)} ranges")
    return answers, symbols, followups, times


def check_archive(server, answers, symbols, followups, times):
    server.wait_archived()
    rows = MariaDB(server.env, server.database).query(
        "SELECT kind, uuid, COALESCE(symbol, '-'), COALESCE(guess, '-'), received_at FROM events")
    initials = {r[1]: r for r in rows if r[0] == "initial"}
    archived_followups = Counter(r[1] for r in rows if r[0] == "followup")
    if set(initials) != set(symbols):
        fail(f"MariaDB initials differ: {len(initials)} rows, {len(symbols)} accepted")
    for request_id, (_, _, symbol, guess, received_at) in initials.items():
        if symbol != symbols[request_id] or guess != ("1" if answers[request_id] else "0") or received_at != times[request_id]:
            fail(f"MariaDB row for {request_id}: {initials[request_id]}")
    if archived_followups != +followups:
        fail(f"MariaDB followups differ: {sum(archived_followups.values())} rows, {sum(followups.values())} sent")
    if any(r[0] == "followup" and r[2] != symbols.get(r[1]) for r in rows):
        fail("followup rows without their initial's symbol")
    log(f"MariaDB holds exactly the {len(rows)} accepted events")


def expect_close(ws, frames, code):
    for opcode, payload, fin in frames:
        ws.send_frame(opcode, payload, fin)
    try:
        reply = ws.receive()
        fail(f"expected close {code}, got a reply {reply!r}")
    except Closed as closed:
        if closed.code != code:
            fail(f"expected close {code}, got {closed.code} {closed.reason!r}")


def check_protocol(server, rejected):
    """Whole-message errors keep the connection; broken frames close it."""
    ws = WebSocket("127.0.0.1", server.port)
    for text, start, status in [("not json", "message: expected a JSON array", 400), ("[]", "message: empty array", 400),
                                ('{"type":"followup"}', "message: expected a JSON array", 400), ("[1]", "message: element 1", 400),
                                ("[" + ",".join(['{"type":"followup","uuid":"%s"}' % uuidlib.uuid4()] * 257) + "]",
                                 "message: more than 256 events", 413)]:
        reply = json.loads(ws.request(text))
        if not isinstance(reply, dict) or not reply.get("error", "").startswith(start) or reply.get("status") != status:
            fail(f"{text[:40]!r}: {reply}")
        rejected["body_too_large" if status == 413 else "invalid_message"] += 1
    if json.loads(ws.request(json.dumps([followup(str(uuidlib.uuid4()))]))) != [{"ok": True}]:
        fail("connection unusable after whole-message errors")
    ws.close()

    valid = json.dumps([initial(str(uuidlib.uuid4()), "e")]).encode()
    cases = [
        ([(BINARY, valid, True)], 1003),
        ([(TEXT, valid[:-3] + b"\xc3\x28]", True)], 1007),
        ([(TEXT, b"[" + b" " * 70000 + b"]", True)], 1009),
        ([(TEXT, b"[", False)] + [(CONTINUATION, b" " * 8000, False)] * 9 + [(CONTINUATION, b"]", True)], 1009),
        ([(CONTINUATION, valid, True)], 1002),
    ]
    for frames, code in cases:
        expect_close(WebSocket("127.0.0.1", server.port), frames, code)
    response = requests.get(f"{server.url}/stream", timeout=5)
    if response.status_code != 426 or "error" not in response.json() or response.headers.get("upgrade") != "websocket":
        fail(f"GET /stream without upgrade: {response.status_code} {response.text!r}")
    log("whole-message errors answered, bad frames closed with 1003/1007/1009/1009/1002, plain GET is 426")
    check_masks_and_handshakes(server, rejected)


def check_masks_and_handshakes(server, rejected):
    """Issue 13, item 5. A client frame without a mask (data or control) closes
    the connection with 1002 before anything reads it (RFC 6455 5.1); a
    handshake without Sec-WebSocket-Key is a 400, one from a page of another
    site a 403, before the upgrade; the service's own pages and clients that
    send no Origin are let in."""
    event = json.dumps([followup(str(uuidlib.uuid4()))]).encode()
    before = requests_counted(server)["followups_accepted"]
    for opcode in (TEXT, PING):
        ws = WebSocket("127.0.0.1", server.port)
        ws.send_frame(opcode, event, masked=False)
        try:
            reply = ws.receive()
            fail(f"an unmasked frame (opcode {opcode}) was answered: {reply!r}")
        except Closed as closed:
            if closed.code != 1002:
                fail(f"an unmasked frame (opcode {opcode}) closed with {closed.code} {closed.reason!r}, expected 1002")
    if requests_counted(server)["followups_accepted"] != before:
        fail("an unmasked frame's event was stored")
    for headers, key, status, reason in [({}, False, 400, "invalid_upgrade"),
                                         ({"Origin": "https://attacker.example"}, True, 403, "forbidden_origin")]:
        # Behind HAProxy an upgrade without a key never reaches a front:
        # HAProxy refuses it itself (400, with its own page, counted by none).
        answered_by_lb = not key and hasattr(server, "haproxy")
        try:
            WebSocket("127.0.0.1", server.port, headers=headers, key=key)
            fail(f"handshake {headers} key={key} was upgraded")
        except Refused as refused:
            if answered_by_lb:
                if refused.status != status:
                    fail(f"handshake {headers} key={key} through HAProxy: {refused.status}, expected {status}")
                continue
            if refused.status != status or not json.loads(refused.body).get("error"):
                fail(f"handshake {headers} key={key}: {refused.status} {refused.body!r}, expected {status} with a JSON error")
        rejected[reason] += 1
    for origin in (f"http://127.0.0.1:{server.port}", None):
        ws = WebSocket("127.0.0.1", server.port, headers={"Origin": origin} if origin else {})
        if json.loads(ws.request(json.dumps([followup(str(uuidlib.uuid4()))]))) != [{"ok": True}]:
            fail(f"origin {origin}: not served")
        ws.close()
    log("unmasked frames closed with 1002 and not stored; handshake without a key 400, from another site 403; own page served")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def check_stalled_redis(server):
    """Redis takes no writes: every message is answered 503 within the Redis
    timeout, and a client pushing as fast as it can is held back by TCP while
    the server's memory stays flat."""
    ws = WebSocket("127.0.0.1", server.port)
    message = json.dumps([followup(str(uuidlib.UUID(int=99)))] + [
        {"type": "followup", "uuid": str(uuidlib.UUID(int=99)), "pad": "x" * 180} for _ in range(239)])
    before = sum(rss_kib(front.process.pid) for front in fronts_of(server))
    redis_cli_each(server.env, "CLIENT", "PAUSE", "30000", "WRITE", check=True, primaries=True)
    try:
        started = time.time()
        reply = json.loads(ws.request(json.dumps([followup(str(uuidlib.uuid4())), {"type": "followup"}])))
        waited = time.time() - started
        if reply[0].get("status") != 503 or "redis" not in reply[0].get("error", "") or reply[1].get("status") != 400:
            fail(f"while Redis takes no writes: {reply}")
        if waited > 5:
            fail(f"the 503 took {waited:.1f}s")
        # Push without reading until the socket takes no more for 2 s (or 400 MB went out).
        frame = ws.frame(TEXT, message.encode())
        ws.sock.setblocking(False)
        sent, last_progress = 0, time.time()
        while sent < 400 << 20 and time.time() - last_progress < 2:
            try:
                sent += ws.sock.send(frame[sent % len(frame):])
                last_progress = time.time()
            except BlockingIOError:
                time.sleep(0.01)
        grown = sum(rss_kib(front.process.pid) for front in fronts_of(server)) - before
    finally:
        redis_cli_each(server.env, "CLIENT", "UNPAUSE", check=True, primaries=True)
    log(f"stalled Redis: 503 in {waited:.2f}s; client held back after {sent >> 20} MiB, server memory grew {grown >> 10} MiB")
    if sent >= 400 << 20:
        fail("the server kept reading 400 MiB while Redis was stalled")
    if grown > 48 << 10:
        fail(f"the server buffered: its memory grew {grown >> 10} MiB while the client was held back")
    ws.sock.close()


def main():
    with deployment(flip=0.1, seed=77) as server:
        connections = [Connection(server, n) for n in range(CONNECTIONS)]
        log(f"{CONNECTIONS} WebSocket connections, {REQUESTS_PER_CONNECTION} requests' events each")
        for connection in connections:
            connection.start()
        for connection in connections:
            connection.join(timeout=300)
        errors = [e for c in connections for e in c.errors]
        if errors:
            fail(f"{len(errors)} unexpected replies, first: {errors[:5]}")
        log(f"{sum(c.events for c in connections)} events answered")

        answers, symbols, followups, times = check_traffic(server, connections)
        check_archive(server, answers, symbols, followups, times)
        rejected = Counter()
        for connection in connections:
            rejected.update(connection.rejected)
        check_protocol(server, rejected)  # three more followups, of new uuids
        counts = requests_counted(server)
        for reason, count in rejected.items():
            if counts["rejected"].get(reason) != count:
                fail(f"/health counts {counts['rejected'].get(reason)} rejects for {reason}, sent {count}")
        if counts["initials_accepted"] != len(symbols) or counts["followups_accepted"] != sum(followups.values()) + 3:
            fail(f"/health counts {counts}, accepted {len(symbols)} initials and {sum(followups.values()) + 3} followups")
        log(f"/health counts the accepted events and {sum(rejected.values())} rejects by reason")

        check_stalled_redis(server)
        # Behind HAProxy the fronts were out of rotation while Redis took no
        # writes (/health 503): wait until one is back.
        server.wait_healthy()
        # A client that never answers the server's close frame does not hold up shutdown.
        silent = WebSocket("127.0.0.1", server.port)
        started = time.time()
        code = server.stop()
        if code != 0:
            fail(f"server exited with {code} on SIGTERM")
        if time.time() - started > 10:
            fail(f"SIGTERM took {time.time() - started:.1f}s with a client that does not answer the close")
        silent.sock.close()
        log(f"SIGTERM: exited in {time.time() - started:.1f}s despite a client that never closes")
        MariaDB(server.env, server.database).query(f"DROP DATABASE `{server.database}`", database=False)
    log("PASS")


if __name__ == "__main__":
    main()
