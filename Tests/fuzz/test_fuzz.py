#!/usr/bin/env python3
"""Bad input gets nothing in: hand-written hostile requests, then a
schemathesis run of openapi.yaml, against the built server.

1. Hand-written cases: empty and huge parameters (a 1 MB query string),
   unicode, SQL injection strings, invalid uuids and dates, wrong methods,
   oversized bodies (declared and chunked), too many and too large headers,
   bytes that are not HTTP, duplicate parameters, bad percent escapes, a uuid
   conflict, bodies framed in ways that cannot be read (unknown transfer
   codings, bad chunks) or that never finish, WebSocket handshakes refused,
   HTTP/1.0 connections, and a slowloris client trickling its headers (cut
   off by the idle timeout). Each must get its 4xx (501 for an unknown
   transfer coding) with the JSON error shape and `X-Content-Type-Options:
   nosniff`, never another 5xx;
   afterwards every stored row, every dashboard, every request record and
   every /health counter is what it was, except the rejects, which grew by
   exactly the expected count per reason.
2. schemathesis (openapi.yaml; positive and negative data, a bounded number
   of examples per operation): no 5xx, every answer matching the document's
   status codes, content types, headers and schemas. Then MariaDB holds
   exactly the events the service accepted and `symbolstream verify` finds
   Redis consistent with it.

Needs the venv that ./test.sh makes (.data/pyvenv, Tests/fuzz/requirements.txt).
By hand: `set -a; . .data/test/env; set +a; SYMBOLSTREAM_BINARY=.build/debug/symbolstream
.data/pyvenv/bin/python Tests/fuzz/test_fuzz.py`.
"""

import json
import os
import socket
import subprocess
import sys
import time
import uuid as uuidlib
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from harness import ROOT, Load, MariaDB, Server, fail, log  # noqa: E402

IDLE_TIMEOUT = 2
EXAMPLES = int(os.environ.get("SYMBOLSTREAM_FUZZ_EXAMPLES", "400"))
SEED = os.environ.get("SYMBOLSTREAM_FUZZ_SEED", "20170628")


def raw(server, data, timeout=10, half_close=False):
    """Sends bytes as they are (then stops sending, with `half_close`);
    returns (status or None, body, seconds until closed, headers), the
    headers of the first response as a dict with lower-case names."""
    started = time.time()
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.settimeout(timeout)
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        received = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else None
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return status, body, time.time() - started, headers


class State:
    """Everything a rejected request must leave alone."""

    def __init__(self, server, request_ids, ranges):
        session = requests.Session()
        self.answers = {}
        for symbol in "abcdefghijklmnopqrstuvwxyz":
            self.answers[f"symbol {symbol}"] = session.get(f"{server.url}/dashboard/symbol/{symbol}", timeout=5).json()
        for lower, upper in ranges:
            self.answers[f"range {lower} {upper}"] = session.get(f"{server.url}/dashboard/range/{lower}/{upper}", timeout=5).json()
        for request_id in request_ids:
            self.answers[f"request {request_id}"] = session.get(f"{server.url}/requests/{request_id}", timeout=5).json()
        health = server.health()
        counts = dict(health["requests"])
        self.rejected = Counter(counts.pop("rejected"))
        self.answers["health requests"] = counts
        self.answers["health archive"] = {k: health["archive"].get(k) for k in ("backlog", "archived_total", "requests_waiting_for_initial", "events_archived_by_this_process")}
        mariadb = MariaDB(server.env, server.database)
        self.answers["rows"] = mariadb.query(
            "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS(',', received_at, uuid, kind, symbol, guess))), 0) FROM events")


def hand_written_cases(server, seeded_uuid):
    """(label, how, expected status, reason counted or None)."""
    fresh = str(uuidlib.uuid4())
    url = server.url
    big = "a" * 1_000_000
    cases = [
        ("empty uuid", ("POST", "/initial", {"uuid": "", "symbol": "e"}), 400, "invalid_uuid"),
        ("empty symbol", ("POST", "/initial", {"uuid": fresh, "symbol": ""}), 400, "invalid_symbol"),
        ("no parameters", ("POST", "/initial", {}), 400, "missing_parameter"),
        ("empty followup", ("POST", "/followup", {"uuid": ""}), 400, "invalid_uuid"),
        ("huge symbol", ("POST", "/initial", {"uuid": fresh, "symbol": "e" * 10_000}), 400, "invalid_symbol"),
        ("1 MB query string", ("POST", "/initial", {"uuid": fresh, "symbol": big}), 431, "headers_too_large"),
        ("1 MB path", ("GET", "/dashboard/symbol/" + big, {}), 431, "headers_too_large"),
        ("unicode symbol", ("POST", "/initial", {"uuid": fresh, "symbol": "é"}), 400, "invalid_symbol"),
        ("emoji symbol", ("POST", "/initial", {"uuid": fresh, "symbol": "😀"}), 400, "invalid_symbol"),
        ("arabic digits uuid", ("POST", "/followup", {"uuid": "١٢٣٤٥٦٧٨-١٢٣٤-١٢٣٤-١٢٣٤-١٢٣٤٥٦٧٨٩٠١٢"}), 400, "invalid_uuid"),
        ("unicode dashboard", ("GET", "/dashboard/symbol/%C3%A9", {}), 400, "invalid_symbol"),
        ("unicode request", ("GET", "/requests/%E2%80%8B" + fresh, {}), 400, "invalid_uuid"),
        ("sql in uuid", ("POST", "/initial", {"uuid": "' OR 1=1; DROP TABLE events; --", "symbol": "e"}), 400, "invalid_uuid"),
        ("sql in symbol", ("POST", "/initial", {"uuid": fresh, "symbol": "e'; DELETE FROM events; --"}), 400, "invalid_symbol"),
        ("sql in bound", ("GET", "/dashboard/range/2017-01-01%27%20OR%20%271%27=%271/2018-01-01", {}), 400, "invalid_bound"),
        ("sql in request id", ("GET", "/requests/1%27%20UNION%20SELECT%20*%20FROM%20events--", {}), 400, "invalid_uuid"),
        ("short uuid", ("POST", "/followup", {"uuid": fresh[:-1]}), 400, "invalid_uuid"),
        ("uuid with g", ("POST", "/followup", {"uuid": "g" + fresh[1:]}), 400, "invalid_uuid"),
        ("braced uuid", ("POST", "/followup", {"uuid": "{" + fresh + "}"}), 400, "invalid_uuid"),
        ("urn uuid", ("POST", "/followup", {"uuid": "urn:uuid:" + fresh}), 400, "invalid_uuid"),
        ("undashed uuid", ("POST", "/followup", {"uuid": fresh.replace("-", "")}), 400, "invalid_uuid"),
        ("uuid MariaDB refuses", ("POST", "/initial", {"uuid": "d65166dc-3dc8-cfc6-0ace-ad0bc266ccf7", "symbol": "e"}), 400, "invalid_uuid"),
        ("uuid with NUL", ("POST", "/followup", {"uuid": fresh[:8] + "\x00" + fresh[9:]}), 400, "invalid_uuid"),
        ("30 February", ("GET", "/dashboard/range/2017-02-30/2017-03-01", {}), 400, "invalid_bound"),
        ("month 13", ("GET", "/dashboard/range/2017-13-01/2018-01-01", {}), 400, "invalid_bound"),
        ("year 0", ("GET", "/dashboard/range/0000-01-01/2018-01-01", {}), 400, "invalid_bound"),
        ("year 10000", ("GET", "/dashboard/range/2017-01-01/10000-01-01", {}), 400, "invalid_bound"),
        ("hour 25", ("GET", "/dashboard/range/2017-06-28T25:00:00/2018-01-01", {}), 400, "invalid_bound"),
        ("time zone", ("GET", "/dashboard/range/2017-06-28T12:00:00+02:00/2018-01-01", {}), 400, "invalid_bound"),
        ("7 fraction digits", ("GET", "/dashboard/range/2017-06-28T12:00:00.1234567/2018-01-01", {}), 400, "invalid_bound"),
        ("inverted range", ("GET", "/dashboard/range/2018-01-01/2017-01-01", {}), 400, "inverted_range"),
        ("GET /initial", ("GET", "/initial", {"uuid": fresh, "symbol": "e"}), 405, None),
        ("PUT /followup", ("PUT", "/followup", {"uuid": fresh}), 405, None),
        ("DELETE dashboard", ("DELETE", "/dashboard/symbol/a", {}), 405, None),
        ("POST /health", ("POST", "/health", {}), 405, None),
        ("unknown route", ("GET", "/admin", {}), 404, None),
        ("duplicate uuid", ("POST", f"/initial?uuid={fresh}&uuid={uuidlib.uuid4()}&symbol=e", None), 400, "duplicate_parameter"),
        ("bad escape", ("RAW", f"POST /initial?uuid={fresh}&symbol=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()),
         400, "malformed_encoding"),
        ("bad UTF-8 escape", ("POST", f"/initial?uuid={fresh}&symbol=%C3", None), 400, "malformed_encoding"),
        ("uuid conflict", ("POST", "/initial", {"uuid": seeded_uuid[0], "symbol": seeded_uuid[1]}), 409, "uuid_conflict"),
        ("form body over 16 KiB", ("FORM", "/initial", "uuid=" + fresh + "&symbol=e&pad=" + "x" * 20_000), 413, "body_too_large"),
        ("chunked form body over 16 KiB", ("CHUNKED", "/initial", ("uuid=" + fresh + "&symbol=e&pad=" + "x" * 20_000).encode()), 413, "body_too_large"),
        ("5 MB text body", ("RAW", (
            f"POST /initial?uuid={fresh}&symbol=e HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            "Content-Length: 5000000\r\n\r\n").encode() + b"a" * 5_000_000), 413, "body_too_large"),
        ("200 headers", ("RAW", b"GET /dashboard/symbol/a HTTP/1.1\r\nHost: x\r\n"
                         + b"".join(b"X-Header-%d: 1\r\n" % i for i in range(200)) + b"\r\n"), 431, "headers_too_large"),
        ("20 KB header", ("RAW", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"), 431, "headers_too_large"),
        ("not HTTP", ("RAW", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n"), 400, "malformed_request"),
        ("bad method token", ("RAW", b"G(T /health HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "malformed_request"),
        ("bad content length", ("RAW", b"POST /followup HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"), 400, "malformed_request"),
        # Issue 13, item 4: a complete head, a body framed in a way that cannot be read.
        ("transfer-encoding gzip", ("RAW", f"POST /initial?uuid={fresh}&symbol=e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
                                           "3\r\nabc\r\n0\r\n\r\n".encode()), 501, "unsupported_transfer_coding"),
        ("transfer-encoding xchunked", ("RAW", f"POST /initial?uuid={fresh}&symbol=e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"
                                               "3\r\nabc\r\n0\r\n\r\n".encode()), 501, "unsupported_transfer_coding"),
        ("bad chunk size", ("RAW", f"POST /followup?uuid={fresh} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "zz\r\nabc\r\n0\r\n\r\n".encode()), 400, "malformed_request"),
        ("chunked and content-length", ("RAW", f"POST /followup?uuid={fresh} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                               "Content-Length: 5\r\n\r\n0\r\n\r\n".encode()), 400, "malformed_request"),
        # Item 9: an invalid escape is a 400 wherever it is, also in a parameter no route reads.
        # (Raw: requests would send %zz as %25zz.)
        ("bad escape in an unknown parameter", ("RAW", b"GET /dashboard/symbol/a?x=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
         400, "malformed_encoding"),
        ("bad escape in an unknown ingest parameter",
         ("RAW", f"POST /initial?uuid={fresh}&symbol=e&x=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()),
         400, "malformed_encoding"),
        # Item 5: WebSocket handshakes refused before the upgrade.
        ("upgrade without a key", ("RAW", b"GET /stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                          b"Sec-WebSocket-Version: 13\r\n\r\n"), 400, "invalid_upgrade"),
        ("upgrade from another site", ("RAW", b"GET /stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                                              b"Origin: https://attacker.example\r\n\r\n"), 403, "forbidden_origin"),
    ]
    session = requests.Session()
    expected = Counter()
    problems = []
    for label, how, status, reason in cases:
        kind = how[0]
        headers = {}
        if kind == "RAW":
            got, body, _, headers = raw(server, how[1])
        elif kind == "FORM":
            response = session.post(url + how[1], data=how[2],
                                    headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
            got, body, headers = response.status_code, response.content, response.headers
        elif kind == "CHUNKED":
            payload = how[2]
            response = session.post(url + how[1], data=(payload[i:i + 4096] for i in range(0, len(payload), 4096)),
                                    headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
            got, body, headers = response.status_code, response.content, response.headers
        else:
            method, path, params = how
            try:
                response = session.request(method, url + path, params=params, timeout=10)
                got, body, headers = response.status_code, response.content, response.headers
            except requests.ConnectionError:
                session = requests.Session()
                got, body = None, b""
        if got is not None and headers.get("x-content-type-options") != "nosniff":
            problems.append(f"{label}: no X-Content-Type-Options: nosniff")
        error = None
        try:
            error = json.loads(body).get("error")
        except (ValueError, AttributeError):
            pass
        if got != status or not isinstance(error, str) or not error:
            problems.append(f"{label}: {got} {body[:200]!r}, expected {status} with a JSON error")
        if reason:
            expected[reason] += 1
    if problems:
        fail(f"{len(problems)} hand-written cases answered wrongly:\n  " + "\n  ".join(problems))
    log(f"{len(cases)} hand-written bad requests answered with their 4xx and a JSON error, no 5xx")
    return expected


def unfinished_bodies(server):
    """Issue 13, item 4: a head whose declared body never comes whole, then
    the client stops sending. No answer (nobody to give it to), nothing
    stored, even with every parameter in the query string or in the part of
    the form that came; one incomplete_request each."""
    fresh = str(uuidlib.uuid4())
    cases = [
        ("declared 100 bytes, 3 sent", f"POST /initial?uuid={fresh}&symbol=e HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"),
        ("a form cut short", f"POST /initial HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                             f"Content-Length: 70\r\n\r\nuuid={fresh}&symbol=e"),
        ("a chunked body never ended", f"POST /followup?uuid={fresh} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"),
    ]
    for label, request in cases:
        status, body, _, _ = raw(server, request.encode(), half_close=True)
        if status is not None:
            fail(f"{label}: answered {status} {body[:200]!r} for a request that never finished")
    log(f"{len(cases)} requests whose body never finished: no answer")
    return len(cases)


def http10_connections(server):
    """Issue 13, item 6: HTTP/1.0 without keep-alive gets `Connection: close`
    and its connection ends with the answer (it used to stay open until the
    idle timeout); with keep-alive it stays, and says so."""
    status, body, seconds, headers = raw(server, b"GET /health HTTP/1.0\r\n\r\n")
    if status != 200 or headers.get("connection") != "close":
        fail(f"HTTP/1.0 without keep-alive: {status} {headers}")
    if seconds > IDLE_TIMEOUT / 2:
        fail(f"HTTP/1.0 without keep-alive: the connection stayed open {seconds:.1f} s after the answer")
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.settimeout(5)
        for _ in range(2):
            s.sendall(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            received = b""
            while b"\r\n\r\n" not in received:
                received += s.recv(65536)
            head, _, body = received.partition(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
            while len(body) < length:
                body += s.recv(65536)
            if b"connection: keep-alive" not in head.lower():
                fail(f"HTTP/1.0 with keep-alive: {head!r}")
    log(f"HTTP/1.0: closed {seconds * 1000:.0f} ms after the answer without keep-alive; kept with it")


def slowloris(server):
    """Headers trickled a byte at a time: cut off by the idle timeout."""
    started = time.time()
    closed_after = None
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.settimeout(0.4)
        request = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"z" * 200
        for byte in request:
            try:
                s.sendall(bytes([byte]))
                if s.recv(1024) == b"":
                    closed_after = time.time() - started
                    break
            except socket.timeout:
                continue
            except OSError:
                closed_after = time.time() - started
                break
            if time.time() - started > IDLE_TIMEOUT + 10:
                break
    if closed_after is None or closed_after > IDLE_TIMEOUT + 1.5:
        fail(f"slowloris: a client trickling its headers kept its connection {time.time() - started:.1f} s "
             f"(idle timeout {IDLE_TIMEOUT} s)")
    log(f"slowloris: connection closed {closed_after:.1f} s into a request whose headers never finished")


def schemathesis(server):
    st = Path(sys.executable).parent / "st"
    report = ROOT / ".artifacts" / "schemathesis.txt"
    args = [str(st), "run", str(ROOT / "openapi.yaml"), "--base-url", server.url,
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                        "response_headers_conformance,response_schema_conformance",
            "--data-generation-method", "all", "--hypothesis-max-examples", str(EXAMPLES),
            "--hypothesis-seed", SEED, "--hypothesis-derandomize", "--request-timeout", "10000",
            "--no-color", "--show-trace"]
    started = time.time()
    env = dict(os.environ, SCHEMATHESIS_HOOKS="", NO_COLOR="1")
    out = subprocess.run(args, capture_output=True, text=True, timeout=900, env=env)
    report.parent.mkdir(exist_ok=True)
    report.write_text(out.stdout + out.stderr)
    summary = [line for line in out.stdout.splitlines() if "passed" in line or "failed" in line or "errored" in line]
    if out.returncode != 0:
        fail(f"schemathesis exited {out.returncode} (full report {report}):\n{out.stdout[-6000:]}")
    log(f"schemathesis: {summary[-1].strip('= ') if summary else 'passed'} in {time.time() - started:.0f} s "
        f"({EXAMPLES} examples per operation, positive and negative)")


def main():
    server = Server(seed=3, extra_args=["--idle-timeout", str(IDLE_TIMEOUT)]).start()
    load = Load(server.url, seed=3).start()
    time.sleep(2)
    load.stop()
    server.wait_archived()
    request_ids = sorted(set(load.acked) | set(load.acked_followups))[:300]
    seeded = next(iter(load.acked.items()))
    other = "a" if seeded[1][0] != "a" else "b"
    ranges = [("2000-01-01", "2100-01-01"), ("2000-01-01", "2000-01-02")]
    before = State(server, request_ids, ranges)

    expected = hand_written_cases(server, (seeded[0], other))
    expected["incomplete_request"] += unfinished_bodies(server)
    http10_connections(server)
    slowloris(server)
    expected["incomplete_request"] += 1
    after = State(server, request_ids, ranges)
    changed = [key for key in before.answers if before.answers[key] != after.answers[key]]
    if changed:
        fail(f"rejected requests changed what is stored or counted: "
             f"{[(k, before.answers[k], after.answers[k]) for k in changed[:3]]}")
    grown = after.rejected - before.rejected
    if grown != expected:
        fail(f"rejects per reason grew by {dict(grown)}, expected {dict(expected)}")
    log(f"nothing stored or counted but the {sum(expected.values())} rejects, per reason: {dict(expected)}")

    schemathesis(server)
    # Whatever the fuzzer got accepted is stored exactly: one row per accepted event.
    server.wait_archived()
    health = server.health()["requests"]
    accepted = health["initials_accepted"] + health["followups_accepted"]
    rows = int(MariaDB(server.env, server.database).query("SELECT COUNT(*) FROM events")[0][0])
    if rows != accepted:
        fail(f"after the fuzz run MariaDB holds {rows} events; the service accepted {accepted} in all")
    if health["unavailable"] != 0:
        fail(f"{health['unavailable']} requests met an unavailable store during the fuzz run")
    out = server.command("verify", check=False)
    if out.returncode != 0:
        fail(f"verify after the fuzz run: {out.stdout[-3000:]}")
    log(f"after the fuzz run: {rows} rows, each an accepted event; {out.stdout.strip().splitlines()[-1]}")
    if server.stop() != 0:
        fail("server did not stop cleanly")
    MariaDB(server.env, server.database).query(f"DROP DATABASE `{server.database}`", database=False)
    log("PASS")


if __name__ == "__main__":
    main()
