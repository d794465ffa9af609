#!/usr/bin/env python3
"""End to end: drive the built server over real HTTP the way the Python
traffic client does (query-string POSTs, empty bodies, `response.text ==
"True"`), with retries, conflicts, followups before their initial and bad
input mixed in; then check both dashboards, /requests/{uuid} and the MariaDB
archive against what was sent.

Run by ./test.sh; by hand: `source .data/test/env && python3 Tests/e2e/test_traffic.py`.
"""

import random
import string
import threading
import uuid as uuidlib
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import requests

from harness import MariaDB, deployment, expected_summary, fail, log, requests_counted

REQUESTS = 3000
WORKERS = 8
LETTERS = string.ascii_lowercase
VOWELS = set("aeiou")

rng = random.Random(20171)


def plan_request():
    return {
        "uuid": str(uuidlib.UUID(int=rng.getrandbits(128), version=4)),
        "symbol": rng.choice(LETTERS),
        "upper": rng.random() < 0.03,
        "early_followups": rng.choice([1, 2]) if rng.random() < 0.03 else 0,
        "followups": 2 if rng.random() < 0.05 else (1 if rng.random() < 0.3 else 0),
        "retry": rng.random() < 0.05,
        "conflict": rng.random() < 0.02,
    }


BAD_REQUESTS = [
    # (method, path, params, expected status, reason counted)
    ("POST", "/initial", {"symbol": "e"}, 400, "missing_parameter"),
    ("POST", "/initial", {"uuid": "nope", "symbol": "e"}, 400, "invalid_uuid"),
    ("POST", "/initial", {"uuid": "' OR 1=1; DROP TABLE events; --", "symbol": "e"}, 400, "invalid_uuid"),
    ("POST", "/initial", {"uuid": str(uuidlib.uuid4()), "symbol": "ab"}, 400, "invalid_symbol"),
    ("POST", "/initial", {"uuid": str(uuidlib.uuid4()), "symbol": "7"}, 400, "invalid_symbol"),
    ("POST", "/initial", {"uuid": str(uuidlib.uuid4()), "symbol": "é"}, 400, "invalid_symbol"),
    ("POST", "/initial", {"uuid": str(uuidlib.uuid4())}, 400, "missing_parameter"),
    ("POST", "/followup", {"uuid": "1234"}, 400, "invalid_uuid"),
    ("POST", "/followup", {}, 400, "missing_parameter"),
    ("GET", "/initial", {"uuid": str(uuidlib.uuid4()), "symbol": "e"}, 405, None),
    ("GET", "/dashboard/symbol/ee", {}, 400, "invalid_symbol"),
    ("GET", "/dashboard/range/2017-02-30/2017-03-01", {}, 400, "invalid_bound"),
    ("GET", "/dashboard/range/2017-03-02/2017-03-01", {}, 400, "inverted_range"),
    ("GET", "/no/such/route", {}, 404, None),
]


class Traffic:
    def __init__(self, url):
        self.url = url
        self.lock = threading.Lock()
        self.answers = {}          # uuid -> "True"/"False" of the accepted initial
        self.symbols = {}          # uuid -> accepted symbol
        self.followups = Counter()  # uuid -> followups sent (all count)
        self.rejected = Counter()  # reason -> count
        self.errors = []
        self.local = threading.local()

    def session(self):
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def post(self, path, params):
        # Exactly what the client does: parameters in the query string, empty body.
        return self.session().post(self.url + path, params=params, timeout=10)

    def error(self, message):
        with self.lock:
            self.errors.append(message)

    def followup(self, request_id):
        response = self.post("/followup", {"uuid": request_id})
        if response.status_code != 200 or response.text != "hooray":
            self.error(f"followup {request_id}: {response.status_code} {response.text!r}")
        with self.lock:
            self.followups[request_id] += 1

    def run_one(self, plan):
        request_id, symbol = plan["uuid"], plan["symbol"]
        for _ in range(plan["early_followups"]):
            self.followup(request_id)
        sent_symbol = symbol.upper() if plan["upper"] else symbol
        response = self.post("/initial", {"uuid": request_id, "symbol": sent_symbol})
        if response.status_code != 200 or response.text not in ("True", "False"):
            self.error(f"initial {request_id}: {response.status_code} {response.text!r}")
            return
        with self.lock:
            self.answers[request_id] = response.text
            self.symbols[request_id] = symbol
        if plan["retry"]:
            again = self.post("/initial", {"uuid": request_id.upper(), "symbol": symbol})
            if again.status_code != 200 or again.text != response.text:
                self.error(f"retry {request_id}: {again.status_code} {again.text!r}, first answer {response.text!r}")
        if plan["conflict"]:
            other = rng.choice([c for c in LETTERS if c != symbol])
            clash = self.post("/initial", {"uuid": request_id, "symbol": other})
            if clash.status_code != 409 or "uuid" not in clash.json().get("error", ""):
                self.error(f"conflict {request_id}: {clash.status_code} {clash.text!r}")
            with self.lock:
                self.rejected["uuid_conflict"] += 1
        for _ in range(plan["followups"]):
            self.followup(request_id)

    def run_bad(self, bad):
        method, path, params, status, reason = bad
        response = self.session().request(method, self.url + path, params=params, timeout=10)
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code != status or not isinstance(body.get("error"), str):
            self.error(f"bad input {method} {path} {params}: {response.status_code} {response.text!r}, expected {status}")
        if reason:
            with self.lock:
                self.rejected[reason] += 1


def main():
    mariadb = None
    with deployment(flip=0.1, seed=99) as server:
        mariadb = MariaDB(server.env, server.database)
        traffic = Traffic(server.url)
        plans = [plan_request() for _ in range(REQUESTS)]
        jobs = [("ok", p) for p in plans] + [("bad", b) for b in BAD_REQUESTS * 20]
        rng.shuffle(jobs)
        log(f"sending {len(plans)} requests' traffic and {len(BAD_REQUESTS) * 20} bad requests from {WORKERS} threads")
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(lambda job: traffic.run_one(job[1]) if job[0] == "ok" else traffic.run_bad(job[1]), jobs))
        if traffic.errors:
            fail(f"{len(traffic.errors)} unexpected responses, first: {traffic.errors[:5]}")
        log(f"accepted {len(traffic.answers)} initials and {sum(traffic.followups.values())} followups")

        # Every request's hydrated record, and the receive times the server gave.
        times = {}
        session = requests.Session()
        for request_id, symbol in traffic.symbols.items():
            record = session.get(f"{server.url}/requests/{request_id}", timeout=5).json()
            if record["symbol"] != symbol or record["guess"] != (traffic.answers[request_id] == "True"):
                fail(f"/requests/{request_id}: {record}, sent {symbol}, answered {traffic.answers[request_id]}")
            if len(record["followups"]) != traffic.followups[request_id] or record["followups"] != sorted(record["followups"]):
                fail(f"/requests/{request_id}: followups {record['followups']}, sent {traffic.followups[request_id]}")
            times[request_id] = record["received_at"]
        unknown = session.get(f"{server.url}/requests/{uuidlib.uuid4()}", timeout=5)
        if unknown.status_code != 404:
            fail(f"unknown uuid gave {unknown.status_code}")

        # The guess model, through HTTP: about 90% right for vowels and consonants.
        right = Counter()
        total = Counter()
        for request_id, symbol in traffic.symbols.items():
            if symbol == "y":
                continue
            kind = "vowel" if symbol in VOWELS else "consonant"
            total[kind] += 1
            right[kind] += (traffic.answers[request_id] == "True") == (kind == "vowel")
        for kind in total:
            rate = right[kind] / total[kind]
            if not 0.8 <= rate <= 0.97:
                fail(f"guesses for {kind}s right {rate:.1%} of the time, expected about 90%")

        # /dashboard/symbol for all 26 letters.
        by_symbol = defaultdict(list)
        followups_by_symbol = Counter()
        for request_id, symbol in traffic.symbols.items():
            by_symbol[symbol].append(times[request_id])
            followups_by_symbol[symbol] += traffic.followups[request_id]
        for symbol in LETTERS:
            got = session.get(f"{server.url}/dashboard/symbol/{symbol}", timeout=5).json()
            want = expected_summary(symbol, by_symbol[symbol], followups_by_symbol[symbol])
            if got != want:
                fail(f"/dashboard/symbol/{symbol}: {got} != {want}")

        # /dashboard/range with random bounds to the microsecond, dates, and spans.
        all_times = sorted(times.values())
        def bound(t):
            return t.replace(" ", "T")
        ranges = [(all_times[0][:10], "2100-01-01"), (all_times[0], all_times[-1]), (all_times[5], all_times[5])]
        for _ in range(150):
            a, b = sorted(rng.sample(all_times, 2))
            ranges.append((bound(a), bound(b)))
        for lower, upper in ranges:
            got = session.get(f"{server.url}/dashboard/range/{lower}/{upper}", timeout=5).json()
            lo, hi = lower.replace("T", " "), upper.replace("T", " ")
            if len(lo) == 10: lo += " 00:00:00.000000"
            if len(hi) == 10: hi += " 00:00:00.000000"
            want = []
            for symbol in LETTERS:
                inside = [r for r, s in traffic.symbols.items() if s == symbol and lo <= times[r] < hi]
                want.append(expected_summary(symbol, [times[r] for r in inside], sum(traffic.followups[r] for r in inside)))
            if got != want:
                diff = [(w, g) for w, g in zip(want, got) if w != g][:3]
                fail(f"/dashboard/range/{lower}/{upper} differs: {diff}")
        log(f"dashboards match for 26 symbols and {len(ranges)} ranges")

        # Rejected requests were counted by reason.
        rejected = requests_counted(server)["rejected"]
        for reason, count in traffic.rejected.items():
            if rejected.get(reason) != count:
                fail(f"/health counts {rejected.get(reason)} rejects for {reason}, sent {count}")

        # MariaDB holds exactly the accepted events.
        server.wait_archived()
        rows = mariadb.query("SELECT kind, uuid, COALESCE(symbol, '-'), COALESCE(guess, '-'), received_at FROM events")
        initials = {r[1]: r for r in rows if r[0] == "initial"}
        followups = Counter(r[1] for r in rows if r[0] == "followup")
        if set(initials) != set(traffic.symbols):
            fail(f"MariaDB initials differ: {len(initials)} rows, {len(traffic.symbols)} accepted")
        for request_id, (_, _, symbol, guess, received_at) in initials.items():
            if symbol != traffic.symbols[request_id] or guess != ("1" if traffic.answers[request_id] == "True" else "0") or received_at != times[request_id]:
                fail(f"MariaDB row for {request_id}: {initials[request_id]}")
        if followups != +traffic.followups:
            fail(f"MariaDB followups differ: {sum(followups.values())} rows, {sum(traffic.followups.values())} sent")
        unattributed = [r for r in rows if r[0] == "followup" and r[2] != traffic.symbols.get(r[1])]
        if unattributed:
            fail(f"followup rows without their initial's symbol: {unattributed[:3]}")
        log(f"MariaDB holds exactly the {len(rows)} accepted events")

        code = server.stop()
        if code != 0:
            fail(f"server exited with {code} on SIGTERM")
    mariadb.query(f"DROP DATABASE `{mariadb.database}`", database=False)
    log("PASS")


if __name__ == "__main__":
    main()
