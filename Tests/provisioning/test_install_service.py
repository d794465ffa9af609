#!/usr/bin/env python3
"""install-service.sh's health wait, against a fake /health.

`vagrant up` must fail when the service it installed cannot take events
(issue 12: the script took any HTTP answer, a 503 included, as "serving").
This runs `provisioning/vagrant/install-service.sh --wait-only` against a
local fake server and checks: a 503 (its body printed), a 200 "degraded"
and no answer at all each fail; a 200 "ok" passes, also after a few 503s.
The real thing (a service whose Redis password is wrong, in a booted Debian
12) is checked by provisioning/vagrant/check-in-container.sh.

Run by ./test.sh; by hand: `python3 Tests/provisioning/test_install_service.py`.
"""

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "provisioning" / "vagrant" / "install-service.sh"

UNAVAILABLE = {"status": "unavailable", "redis": {"status": "down", "error": "WRONGPASS invalid username-password pair"},
               "mariadb": {"status": "up"}}
DEGRADED = {"status": "degraded", "redis": {"status": "up"}, "mariadb": {"status": "down", "error": "Access denied"}}
OK = {"status": "ok", "redis": {"status": "up"}, "mariadb": {"status": "up"}}


def log(message):
    print(f"[provisioning {time.strftime('%H:%M:%S')}] {message}", flush=True)


def fail(message):
    log("FAIL: " + message)
    sys.exit(1)


class Fake:
    """Answers /health with the (status, body) that `answer()` returns."""

    def __init__(self):
        self.answer = lambda: (503, UNAVAILABLE)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, body = fake.answer()
                data = json.dumps(body, separators=(",", ":")).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def wait_only(url, timeout):
    env = dict(os.environ, SYMBOLSTREAM_HEALTH_URL=url, SYMBOLSTREAM_HEALTH_TIMEOUT=str(timeout))
    return subprocess.run(["bash", str(SCRIPT), "--wait-only"], env=env, capture_output=True, text=True, timeout=120)


def main():
    fake = Fake()

    out = wait_only(fake.url, 2)
    if out.returncode == 0 or "answered 503" not in out.stderr or "WRONGPASS" not in out.stderr:
        fail(f"a 503 must fail and show the health body; exit {out.returncode}, stderr:\n{out.stderr}")
    log("a 503 fails the provisioning, with the health body: " + out.stderr.strip().splitlines()[-1])

    fake.answer = lambda: (200, DEGRADED)
    out = wait_only(fake.url, 2)
    if out.returncode == 0 or "answered 200" not in out.stderr or "Access denied" not in out.stderr:
        fail(f"a 200 'degraded' (MariaDB unreachable) must fail; exit {out.returncode}, stderr:\n{out.stderr}")
    log("a 200 'degraded' fails it too")

    port = fake.server.server_address[1]
    fake.server.shutdown()
    fake.server.server_close()
    out = wait_only(f"http://127.0.0.1:{port}/health", 2)
    if out.returncode == 0 or "no answer" not in out.stderr:
        fail(f"no answer must fail; exit {out.returncode}, stderr:\n{out.stderr}")
    log("no answer fails it")

    fake = Fake()
    started = time.time()
    fake.answer = lambda: (503, UNAVAILABLE) if time.time() - started < 2.5 else (200, OK)
    out = wait_only(fake.url, 30)
    if out.returncode != 0 or "healthy" not in out.stderr:
        fail(f"a 200 'ok' after a few 503s must pass; exit {out.returncode}, stderr:\n{out.stderr}")
    log("a 200 'ok' (after 503s while starting) passes")
    log("PASS")


if __name__ == "__main__":
    main()
