#!/usr/bin/env python3
"""A small HTTP forward proxy for apt, used by check-in-container.sh.

The container of the Vagrant check has a network namespace of its own, with
no route out and no DNS: the only thing it may reach is this relay, on the
host end of its veth pair. apt in the container is pointed at it
(Acquire::http::Proxy), and the relay fetches from the host's Debian mirror
(the hosts named by --allow, taken from the host's apt sources) with the
host's name resolution and network. Nothing else is forwarded: other hosts,
other schemes and CONNECT get a 403.

    apt-relay.py --listen 10.213.0.1:3142 --allow deb.debian.org [--log FILE]

Prints "ready ADDRESS:PORT" on stdout once it listens (port 0 picks a free
one); a summary on SIGTERM.
"""

import argparse
import http.client
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Hop-by-hop headers (RFC 9110 7.6.1) are not forwarded either way.
HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
       "te", "trailer", "transfer-encoding", "upgrade"}
CHUNK = 256 * 1024


class Stats:
    lock = threading.Lock()
    requests = 0
    refused = 0
    failed = 0
    bytes = 0


def make_handler(allowed, log):
    class Relay(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive with apt
        server_version = "symbolstream-apt-relay"

        def log_message(self, fmt, *args):
            if log:
                log.write(f"{time.strftime('%H:%M:%S')} {self.client_address[0]} {fmt % args}\n")
                log.flush()

        def refuse(self, status, why):
            with Stats.lock:
                Stats.refused += 1
            body = f"apt-relay: {why}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_CONNECT(self):
            self.refuse(403, "CONNECT is not relayed (apt uses plain http here)")

        def relay(self):
            url = urlsplit(self.path)
            if url.scheme != "http" or not url.hostname:
                return self.refuse(400, f"not an absolute http URL: {self.path}")
            if url.hostname not in allowed:
                return self.refuse(403, f"{url.hostname} is not one of the host's apt mirrors ({', '.join(sorted(allowed))})")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "host"}
            path = url.path or "/"
            if url.query:
                path += "?" + url.query
            upstream = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=120)
            try:
                upstream.request(self.command, path, headers=headers)
                answer = upstream.getresponse()
                self.send_response_only(answer.status, answer.reason)
                length = answer.getheader("Content-Length")
                for key, value in answer.getheaders():
                    if key.lower() not in HOP:
                        self.send_header(key, value)
                bodyless = self.command == "HEAD" or answer.status in (204, 304) or 100 <= answer.status < 200
                if length is None and not bodyless:
                    # Unknown length (chunked upstream): end the body by closing.
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                sent = 0
                if not bodyless:
                    while True:
                        data = answer.read(CHUNK)
                        if not data:
                            break
                        self.wfile.write(data)
                        sent += len(data)
                with Stats.lock:
                    Stats.requests += 1
                    Stats.bytes += sent
            except (OSError, http.client.HTTPException) as error:
                with Stats.lock:
                    Stats.failed += 1
                self.log_message("upstream error for %s: %s", self.path, error)
                self.close_connection = True
                try:
                    self.send_error(502, f"upstream: {error}")
                except OSError:
                    pass
            finally:
                upstream.close()

        do_GET = relay
        do_HEAD = relay

    return Relay


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="ADDRESS:PORT")
    parser.add_argument("--allow", action="append", required=True, help="a mirror host name (repeatable)")
    parser.add_argument("--log", help="request log file")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    log = open(args.log, "a") if args.log else None
    server = ThreadingHTTPServer((host, int(port)), make_handler(set(args.allow), log))
    server.daemon_threads = True

    def stop(*_):
        print(f"apt-relay: {Stats.requests} requests relayed ({Stats.bytes / 1e6:.1f} MB), "
              f"{Stats.refused} refused, {Stats.failed} failed upstream", flush=True)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"ready {host}:{server.server_address[1]}", flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
