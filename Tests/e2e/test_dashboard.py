#!/usr/bin/env python3
"""End to end: the dashboard page and the routes behind it, against the built
server and the real stores.

1. Sends traffic like the Python client (followups more likely after a right
   answer), retries and bad requests, and remembers what it sent.
2. Checks /dashboard/series (every step), /dashboard/accuracy and
   /dashboard/top (every ranking) against what was sent, /pipeline against
   the counts, and /metrics by parsing the scrape with prometheus_client's
   parser and watching counters move.
3. Loads /dashboard in headless Chromium, saves screenshots under .artifacts/,
   and checks that the numbers the page shows, the leaderboard's included,
   are those of the JSON routes.
4. A second server with no data and no Chart.js: the page still renders,
   shows zeros, and says the charts are off; the script route is a JSON 404.

Run by ./test.sh; by hand: `source .data/test/env && python3 Tests/e2e/test_dashboard.py`.
"""

import datetime as dt
import math
from fractions import Fraction
import random
import shutil
import subprocess
import tempfile
import time
import uuid as uuidlib
from collections import Counter
from html.parser import HTMLParser

import requests
from prometheus_client.parser import text_string_to_metric_families

from harness import ROOT, deployment, fail, fronts_of, log

LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOWELS = set("aeiou")
ARTIFACTS = ROOT / ".artifacts"
rng = random.Random(4242)


# ---- traffic --------------------------------------------------------------

class Sent:
    """What this test sent and what the server answered."""

    def __init__(self):
        self.count = Counter()          # symbol -> initials accepted
        self.true = Counter()           # symbol -> of them answered True
        self.followups = Counter()      # symbol -> followups
        self.followups_true = Counter()  # symbol -> followups to initials answered True
        self.rejected = Counter()       # reason -> count
        self.status = Counter()         # (route, status) -> requests
        self.retries = 0


def send_traffic(url, sent, initials=700):
    session = requests.Session()

    def post(path, params):
        response = session.post(url + path, params=params, timeout=10)
        sent.status[(path, response.status_code)] += 1
        return response

    for _ in range(initials):
        symbol = rng.choice(LETTERS)
        request_id = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
        response = post("/initial", {"uuid": request_id, "symbol": symbol})
        if response.status_code != 200 or response.text not in ("True", "False"):
            fail(f"initial: {response.status_code} {response.text!r}")
        answered_true = response.text == "True"
        sent.count[symbol] += 1
        sent.true[symbol] += answered_true
        # The client talks on more often after an answer it likes.
        right = answered_true == (symbol in VOWELS) if symbol != "y" else answered_true
        followups = 0
        if rng.random() < (0.7 if right else 0.15):
            followups = 2 if rng.random() < 0.1 else 1
        for _ in range(followups):
            if post("/followup", {"uuid": request_id}).text != "hooray":
                fail("followup not answered hooray")
        sent.followups[symbol] += followups
        if answered_true:
            sent.followups_true[symbol] += followups
        if rng.random() < 0.03:
            again = post("/initial", {"uuid": request_id, "symbol": symbol})
            if again.text != response.text:
                fail("a retry changed its answer")
            sent.retries += 1
    for params, reason in [({"symbol": "e"}, "missing_parameter"), ({"uuid": "nope", "symbol": "e"}, "invalid_uuid"),
                           ({"uuid": str(uuidlib.uuid4()), "symbol": "7"}, "invalid_symbol")] * 3:
        if post("/initial", params).status_code != 400:
            fail(f"bad initial {params} was not a 400")
        sent.rejected[reason] += 1


# ---- the JSON routes ---------------------------------------------------------

def get(url, path, params=None, status=200):
    response = requests.get(url + path, params=params, timeout=30)
    if response.status_code != status:
        fail(f"GET {path} {params}: {response.status_code} {response.text[:300]!r}, expected {status}")
    return response.json()


def expect(condition, message):
    if not condition:
        fail(message)


def check_series(url, sent, lower, upper):
    total = sum(sent.count.values())
    for step, seconds in [("second", 1), ("minute", 60), ("hour", 3600), ("day", 86400)]:
        series = get(url, "/dashboard/series", {"from": iso(lower), "to": iso(upper), "step": step})
        expect(series["step"] == step and series["step_seconds"] == seconds, f"series step: {series['step']}")
        n = len(series["times"])
        expect(all(len(series[k]) == n for k in ("count", "followups")), "series columns differ in length")
        expect(list(series["symbols"]) == list(LETTERS), "series symbols are not a..z")
        for letter in LETTERS:
            column = series["symbols"][letter]
            expect(len(column["count"]) == n and len(column["followups"]) == n, f"series {letter}: column lengths")
        for i in range(n):
            expect(series["count"][i] == sum(series["symbols"][l]["count"][i] for l in LETTERS), "series total != sum of symbols")
        start = parse(series["times"][0]) if n else None
        if n:
            expect(start.timestamp() % seconds == 0, f"series bucket {series['times'][0]} not aligned to {step}")
            expect(series["from"] == series["times"][0], "series from != first bucket")
        for letter in LETTERS:
            got = sum(series["symbols"][letter]["count"]), sum(series["symbols"][letter]["followups"])
            expect(got == (sent.count[letter], sent.followups[letter]),
                   f"series {step} {letter}: {got} != sent {(sent.count[letter], sent.followups[letter])}")
        log(f"series step={step}: {n} buckets, {sum(series['count'])} initials (sent {total})")
    # Omitted step: the finest level within the cap.
    auto = get(url, "/dashboard/series", {"from": iso(lower), "to": iso(lower + dt.timedelta(hours=2))})
    expect(auto["step"] == "minute" and len(auto["times"]) in (120, 121), f"auto step: {auto['step']}, {len(auto['times'])} buckets")
    # Errors name their parameter.
    for params, name in [({"to": iso(upper)}, "from"), ({"from": iso(lower)}, "to"),
                         ({"from": iso(lower), "to": iso(upper), "step": "week"}, "step"),
                         ({"from": "2017-02-30", "to": iso(upper)}, "from"),
                         ({"from": iso(upper), "to": iso(lower)}, "from"),
                         ({"from": "2000-01-01", "to": "2001-01-01", "step": "minute"}, "step"),
                         ({"from": "2000-01-01", "to": "2020-01-01"}, "to")]:
        body = get(url, "/dashboard/series", params, status=400)
        expect(body["error"].startswith(name + ":"), f"series {params}: error {body['error']!r} should name {name}")


def check_accuracy(url, sent, lower, upper):
    accuracy = get(url, "/dashboard/accuracy", {"from": iso(lower), "to": iso(upper)})
    correct = wrong = followups_correct = followups_wrong = 0
    for entry, letter in zip(accuracy["symbols"], LETTERS):
        n, t = sent.count[letter], sent.true[letter]
        f, ft = sent.followups[letter], sent.followups_true[letter]
        expect((entry["symbol"], entry["count"], entry["answered_true"], entry["followups"], entry["followups_answered_true"])
               == (letter, n, t, f, ft), f"accuracy {letter}: {entry} != sent {(n, t, f, ft)}")
        expect(entry["vowel"] == (None if letter == "y" else letter in VOWELS), f"accuracy {letter}: vowel {entry['vowel']}")
        after_true = ft / t if t else None
        after_false = (f - ft) / (n - t) if n - t else None
        expect(close(entry["followup_rate_after_true"], after_true) and close(entry["followup_rate_after_false"], after_false),
               f"accuracy {letter}: followup rates {entry}")
        implied = None if after_true is None or after_false is None or after_true == after_false else after_true > after_false
        expect(entry["implied_vowel"] == implied, f"accuracy {letter}: implied {entry['implied_vowel']} != {implied}")
        if letter != "y" and n:
            right = t if letter in VOWELS else n - t
            correct += right
            wrong += n - right
            followups_correct += ft if letter in VOWELS else f - ft
            followups_wrong += (f - ft) if letter in VOWELS else ft
    expect(close(accuracy["accuracy"], correct / (correct + wrong)), f"accuracy {accuracy['accuracy']} != {correct / (correct + wrong)}")
    expect(close(accuracy["followup_rate_after_correct"], followups_correct / correct), "followup rate after correct")
    expect(close(accuracy["followup_rate_after_wrong"], followups_wrong / wrong), "followup rate after wrong")
    # The simulated client rewards right answers, and the numbers show it.
    expect(accuracy["followup_rate_after_correct"] > 2 * accuracy["followup_rate_after_wrong"], "the client's preference does not show")
    expect(0.8 < accuracy["accuracy"] < 0.97, f"accuracy {accuracy['accuracy']} far from 1 - flip probability 0.1")
    log(f"accuracy {accuracy['accuracy']:.3f}, implied {accuracy['implied_accuracy']:.3f}, followups per initial "
        f"after right {accuracy['followup_rate_after_correct']:.2f} / wrong {accuracy['followup_rate_after_wrong']:.2f}")
    body = get(url, "/dashboard/accuracy", {"from": iso(upper), "to": iso(lower)}, status=400)
    expect(body["error"].startswith("from:"), "accuracy inverted range should name from")


def check_top(url, sent):
    """The four rankings against what was sent (the latest initial of each
    symbol as /dashboard/symbol has it), the default n, and the errors."""
    latest = {letter: get(url, f"/dashboard/symbol/{letter}")["latest"] for letter in LETTERS if sent.count[letter]}
    present = [letter for letter in LETTERS if sent.count[letter]]
    keys = {
        "initials": lambda l: (-sent.count[l], l),
        "followups": lambda l: (-sent.followups[l], l),
        "rate": lambda l: (-Fraction(sent.followups[l], sent.count[l]), -sent.count[l], l),
        "recent": lambda l: (tuple(-ord(c) for c in latest[l]), l),
    }
    for by, key in keys.items():
        top = get(url, "/dashboard/top", {"by": by, "n": 26})
        expect(top["by"] == by and top["n"] == 26, f"top {by}: {top['by']} {top['n']}")
        want = sorted(present, key=key)
        expect([row["symbol"] for row in top["top"]] == want, f"top {by}: {[row['symbol'] for row in top['top']]} != {want}")
        for row in top["top"]:
            letter = row["symbol"]
            expect((row["count"], row["followups"], row["latest"]) == (sent.count[letter], sent.followups[letter], latest[letter]),
                   f"top {by} {letter}: {row}")
            expect(close(row["rate"], sent.followups[letter] / sent.count[letter]), f"top {by} {letter}: rate {row['rate']}")
    default = get(url, "/dashboard/top")
    expect(default["by"] == "initials" and len(default["top"]) == min(10, len(present)), f"top default: {default['by']}, {len(default['top'])} rows")
    for params, name in [({"by": "best"}, "by"), ({"n": "0"}, "n"), ({"n": "27"}, "n"), ({"n": "x"}, "n")]:
        body = get(url, "/dashboard/top", params, status=400)
        expect(body["error"].startswith(name + ":"), f"top {params}: error {body['error']!r} should name {name}")
        sent.rejected["invalid_ranking"] += 1
    log(f"top: 4 rankings of {len(present)} symbols as sent; leader by rate {get(url, '/dashboard/top', {'by': 'rate', 'n': 1})['top'][0]['symbol']}")


def summed(pipelines, part):
    """A counter part of /pipeline summed over the fronts (each counts what it answered)."""
    total = Counter()
    for pipeline in pipelines:
        total.update(pipeline[part])
    return total


def check_pipeline(server, sent):
    server.wait_archived()
    fronts = [get(front.url, "/pipeline") for front in fronts_of(server)]
    pipeline = fronts[0]
    initials, followups = sum(sent.count.values()), sum(sent.followups.values())
    events = summed(fronts, "events")
    expect((events["initials"], events["followups"], events["accepted"], events["retries"])
           == (initials, followups, initials + followups, sent.retries), f"pipeline events {dict(events)}")
    rejected = summed(fronts, "rejected")
    for reason, count in sent.rejected.items():
        expect(rejected[reason] == count, f"pipeline rejected {reason}: {rejected[reason]} != {count}")
    archive = pipeline["archive"]
    expect(archive["archived_total"] == initials + followups and archive["backlog"] == 0, f"pipeline archive {archive}")
    expect(pipeline["status"] == "ok" and pipeline["redis"]["status"] == "up", f"pipeline status {pipeline['status']}")
    for front in fronts:
        history = front["history"]
        n = len(history["times"])
        expect(n >= 2 and all(len(history[k]) == n for k in history if k != "interval_seconds"), f"pipeline history {history}")
        rate_seconds = history["interval_seconds"]
        expect(sum(history["accepted_per_second"]) * rate_seconds > 0, "the history shows no accepted events")
    log(f"pipeline: {events['accepted']} accepted, {events['rejected']} rejected, {n} history points"
        + (f" (summed over {len(fronts)} fronts)" if len(fronts) > 1 else ""))


def check_metrics(server, sent):
    url = server.url
    fronts = fronts_of(server)

    def scrape():
        """Every front's scrape, counters and histograms summed (each process
        counts what it served); gauges as the first front says."""
        samples = {}
        families = {}
        for number, front in enumerate(fronts):
            response = requests.get(front.url + "/metrics", timeout=10)
            expect(response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4"),
                   f"/metrics: {response.status_code} {response.headers.get('content-type')}")
            for family in text_string_to_metric_families(response.text):  # raises on malformed text
                families[family.name] = family.type
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    if family.type in ("counter", "histogram"):
                        samples[key] = samples.get(key, 0) + sample.value
                    elif number == 0:
                        samples[key] = sample.value
        return families, samples

    # Rejects include the series and accuracy checks' bad requests: compare with /pipeline, same moment.
    rejected = summed([get(front.url, "/pipeline") for front in fronts], "rejected")
    families, samples = scrape()

    def value(name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))))

    for name, kind in [("symbolstream_http_requests", "counter"), ("symbolstream_http_request_duration_seconds", "histogram"),
                       ("symbolstream_requests_rejected", "counter"), ("symbolstream_archive_lag_seconds", "gauge"),
                       ("symbolstream_archive_failures", "counter"), ("symbolstream_dependency_up", "gauge")]:
        expect(families.get(name) == kind, f"metric family {name}: {families.get(name)} (expected {kind})")
    expect(value("symbolstream_http_requests_total", route="/initial", status="200") == sent.status[("/initial", 200)],
           f"/initial 200s: {value('symbolstream_http_requests_total', route='/initial', status='200')} != {sent.status[('/initial', 200)]}")
    expect(value("symbolstream_http_requests_total", route="/initial", status="400") == sent.status[("/initial", 400)], "/initial 400s")
    expect(value("symbolstream_http_request_duration_seconds_count", route="/followup", status="200") == sent.status[("/followup", 200)],
           "/followup latency count")
    for reason, count in rejected.items():
        expect(value("symbolstream_requests_rejected_total", reason=reason) == count, f"rejected {reason} in /metrics")
    expect(rejected["invalid_uuid"] == sent.rejected["invalid_uuid"], "invalid_uuid rejects")
    expect(value("symbolstream_events_accepted_total", kind="initial") == sum(sent.count.values()), "accepted initials in /metrics")
    expect(value("symbolstream_archived_events") == sum(sent.count.values()) + sum(sent.followups.values()), "archived in /metrics")
    expect(value("symbolstream_dependency_up", dependency="redis") == 1, "redis up in /metrics")
    # Histogram buckets are cumulative and end at the count.
    buckets = sorted((float(dict(labels)["le"]), v) for (name, labels), v in samples.items()
                     if name == "symbolstream_http_request_duration_seconds_bucket" and dict(labels)["route"] == "/initial"
                     and dict(labels)["status"] == "200")
    expect(buckets and all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "histogram buckets not cumulative")
    expect(buckets[-1] == (math.inf, sent.status[("/initial", 200)]), f"histogram +Inf bucket {buckets[-1]}")

    # Values move as requests are made.
    before = value("symbolstream_http_requests_total", route="/dashboard/symbol/{symbol}", status="200") or 0
    invalid = value("symbolstream_requests_rejected_total", reason="invalid_symbol")
    for _ in range(3):
        requests.get(url + "/dashboard/symbol/e", timeout=10)
    requests.get(url + "/dashboard/symbol/ee", timeout=10)
    _, samples = scrape()
    expect(value("symbolstream_http_requests_total", route="/dashboard/symbol/{symbol}", status="200") == before + 3,
           "the symbol dashboard counter did not move by 3")
    expect(value("symbolstream_http_requests_total", route="/dashboard/symbol/{symbol}", status="400") == 1, "the 400 was not counted")
    expect(value("symbolstream_requests_rejected_total", reason="invalid_symbol") == invalid + 1, "the reject was not counted")
    log(f"metrics: {len(families)} families parse; counters follow requests")


# ---- the page in Chromium ----------------------------------------------------

class Elements(HTMLParser):
    """Every element with an id, or inside a symbol row with a data-field: attributes and text."""

    def __init__(self):
        super().__init__()
        self.by_id = {}
        self.stack = []
        self.body = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        row = next((e["id"] for e in reversed(self.stack) if e["id"] and e["id"].startswith("row-")), None)
        key = attrs.get("id") or (f"{row}.{attrs['data-field']}" if row and "data-field" in attrs else None)
        entry = {"id": key, "attrs": attrs, "text": ""}
        if key:
            self.by_id[key] = entry
        if tag not in ("br", "img", "input", "meta", "link"):
            self.stack.append(entry)

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        for entry in self.stack:
            if entry["id"]:
                entry["text"] += data


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    fail("no chromium binary (Debian package chromium)")


def browse(url, screenshot, height=3000):
    """The page's DOM after its first refreshes, and a screenshot."""
    profile = tempfile.mkdtemp(prefix="ss-chromium-")
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size=1440,{height}", "--virtual-time-budget=12000"]
    try:
        dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
        if dom.returncode != 0:
            fail(f"chromium --dump-dom failed: {dom.stderr[-2000:]}")
        shot = subprocess.run(base + [f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=120)
        if shot.returncode != 0 or not screenshot.exists():
            fail(f"chromium --screenshot failed: {shot.stderr[-2000:]}")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    parser = Elements()
    parser.feed(dom.stdout)
    return parser


def check_page(server, sent, lower, upper):
    # The page as one front serves it: its pipeline tiles are that front's
    # counts (a Server is its own front; the dashboards are the same on all).
    server = fronts_of(server)[0]
    page = requests.get(server.url + "/dashboard", timeout=10)
    expect(page.status_code == 200 and page.headers["content-type"].startswith("text/html"), "GET /dashboard")
    script = requests.get(server.url + "/dashboard/assets/chart.js", timeout=10)
    expect(script.status_code == 200 and "Chart.js" in script.text[:500], "chart.js is not served")

    query = f"?from={iso(lower)[:19]}&to={iso(upper)[:19]}"
    shot = ARTIFACTS / "dashboard.png"
    dom = browse(server.url + "/dashboard" + query, shot)
    el = dom.by_id
    expect(dom.body.get("data-state") == "ready", f"page state {dom.body.get('data-state')}: {el.get('notice', {}).get('text')}")
    expect(dom.body.get("data-charts") == "on", "Chart.js did not load")
    expect(el["errors"]["attrs"].get("data-count") == "0", f"script errors: {el['errors']['text']}")
    for chart in ("chart-series", "chart-counts", "chart-rates", "chart-pipeline", "chart-realtime"):
        expect(el[chart]["attrs"].get("data-ready") == "1", f"{chart} not drawn")

    bounds = {"from": iso(lower)[:19], "to": iso(upper)[:19]}
    summaries = get(server.url, f"/dashboard/range/{bounds['from']}/{bounds['to']}")
    accuracy = get(server.url, "/dashboard/accuracy", bounds)
    pipeline = get(server.url, "/pipeline")

    def shown(element_id, expected, text=None):
        entry = el.get(element_id)
        expect(entry is not None, f"page has no #{element_id}")
        raw = entry["attrs"].get("data-value", "")
        got = None if raw in ("", "null") else float(raw)
        want = None if expected is None else float(expected)
        expect(got == want or (got is not None and want is not None and abs(got - want) < 1e-9),
               f"#{element_id} data-value {raw!r} != {expected!r}")
        if text is not None:
            expect(entry["text"].strip() == text, f"#{element_id} shows {entry['text'].strip()!r}, expected {text!r}")
        return entry

    initials = sum(s["count"] for s in summaries)
    followups = sum(s["followups"] for s in summaries)
    expect(initials == sum(sent.count.values()), "the range does not hold all the traffic")
    shown("kpi-initials", initials, f"{initials:,}")
    shown("kpi-followups", followups, f"{followups:,}")
    shown("kpi-followup-rate", followups / initials)
    shown("kpi-accuracy", accuracy["accuracy"])
    shown("kpi-implied-accuracy", accuracy["implied_accuracy"])
    for entry_id, value in [("kpi-followup-rate", followups / initials), ("kpi-accuracy", accuracy["accuracy"])]:
        text = el[entry_id]["text"].strip()
        expect(text.endswith("%") and abs(float(text[:-1]) - 100 * value) <= 0.051, f"#{entry_id} shows {text} for {value}")
    # Everything was sent within the last five minutes.
    shown("kpi-realtime", initials, f"{initials:,}")
    expect(int(el["series-card"]["attrs"]["data-total"]) == initials, "the series total differs from the range")
    for summary, answers in zip(summaries, accuracy["symbols"]):
        s = summary["symbol"]
        shown(f"row-{s}.count", summary["count"], f"{summary['count']:,}")
        shown(f"row-{s}.followups", summary["followups"], f"{summary['followups']:,}")
        shown(f"row-{s}.after_true", answers["followup_rate_after_true"])
        shown(f"row-{s}.after_false", answers["followup_rate_after_false"])
        shown(f"row-{s}.accuracy", answers["accuracy"])
        shown(f"row-{s}.implied_accuracy", answers["implied_accuracy"])
        implied = el[f"row-{s}.implied"]["attrs"]["data-value"]
        expect(implied == {True: "true", False: "false", None: "null"}[answers["implied_vowel"]], f"row {s} implied {implied}")
        expect(el[f"row-{s}.earliest"]["attrs"]["data-value"] == (summary["earliest"] or ""), f"row {s} earliest")
    events, archive = pipeline["events"], pipeline["archive"]
    shown("pipe-accepted", events["accepted"], f"{events['accepted']:,}")
    shown("pipe-rejected", events["rejected"], f"{events['rejected']:,}")
    shown("pipe-unavailable", events["unavailable"])
    shown("pipe-archived", archive["archived_total"], f"{archive['archived_total']:,}")
    shown("pipe-backlog", archive["backlog"])
    shown("pipe-failures", archive["failures"])
    shown("pipe-retries", archive["retries"])
    expect(el["pipe-status"]["attrs"]["data-value"] == pipeline["status"], "pipeline status on the page")
    for reason, count in pipeline["rejected"].items():
        shown(f"reject-{reason}", count)
    # The leaderboard: each list is /dashboard/top?by=…&n=5, row by row.
    for by in ("initials", "followups", "rate", "recent"):
        top = get(server.url, "/dashboard/top", {"by": by, "n": 5})["top"]
        expect(el[f"top-{by}"]["attrs"].get("data-count") == str(len(top)), f"leaderboard {by}: {el[f'top-{by}']['attrs']} for {len(top)} rows")
        for rank, row in enumerate(top, 1):
            item = el.get(f"top-{by}-{rank}")
            expect(item is not None, f"leaderboard {by}: no row {rank}")
            value = {"initials": row["count"], "followups": row["followups"], "rate": row["rate"], "recent": row["latest"]}[by]
            got = item["attrs"].get("data-value")
            same = close(float(got), value) if by == "rate" else got == str(value)
            expect(item["attrs"].get("data-symbol") == row["symbol"] and same, f"leaderboard {by} #{rank}: {item['attrs']} != {row}")
            text = " ".join(item["text"].split())
            if by == "rate":  # a percentage with one decimal
                parts = text.split(" ")
                expect(parts[:2] == [str(rank), row["symbol"]] and parts[2].endswith("%") and abs(float(parts[2][:-1]) - 100 * value) <= 0.051,
                       f"leaderboard rate #{rank} shows {text!r} for {value}")
                continue
            shown_value = value[5:19] if by == "recent" else f"{value:,}"
            expect(text == f"{rank} {row['symbol']} {shown_value}", f"leaderboard {by} #{rank} shows {text!r}, expected {rank} {row['symbol']} {shown_value}")
    log(f"page: {initials} initials, 26 rows, the leaderboard and pipeline tiles equal the JSON routes; screenshot {shot}")


def check_empty_page_without_charts(url):
    script = requests.get(url + "/dashboard/assets/chart.js", timeout=10)
    expect(script.status_code == 404 and script.json()["error"].startswith("chart-js:"), f"missing chart.js: {script.status_code} {script.text}")
    shot = ARTIFACTS / "dashboard-empty.png"
    dom = browse(url + "/dashboard?range=24h", shot, height=2200)
    el = dom.by_id
    expect(dom.body.get("data-state") == "ready", f"empty page state {dom.body.get('data-state')}: {el.get('notice', {}).get('text')}")
    expect(dom.body.get("data-charts") == "off", "the page should know Chart.js is missing")
    expect(el["errors"]["attrs"].get("data-count") == "0", f"script errors: {el['errors']['text']}")
    for element_id in ("kpi-initials", "kpi-followups", "kpi-realtime", "pipe-accepted", "row-e.count"):
        expect(el[element_id]["text"].strip() == "0", f"#{element_id} shows {el[element_id]['text']!r} with no data")
    for element_id in ("kpi-accuracy", "kpi-implied-accuracy", "kpi-followup-rate"):
        expect(el[element_id]["text"].strip() == "—", f"#{element_id} shows {el[element_id]['text']!r} with no data")
    for by in ("initials", "followups", "rate", "recent"):
        expect(el[f"top-{by}"]["attrs"].get("data-count") == "0" and "no data yet" in el[f"top-{by}"]["text"],
               f"leaderboard {by} with no data: {el[f'top-{by}']}")
    log(f"empty page without Chart.js renders zeros; screenshot {shot}")


# ---- helpers -----------------------------------------------------------------

def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def parse(text):
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc)


def close(a, b):
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-12)


def main():
    ARTIFACTS.mkdir(exist_ok=True)
    with deployment(flip=0.1, seed=11, extra_args=["--pipeline-interval", "0.5"]) as server:
        lower = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=1)
        sent = Sent()
        started = time.time()
        send_traffic(server.url, sent)
        log(f"sent {sum(sent.count.values())} initials, {sum(sent.followups.values())} followups in {time.time() - started:.1f}s")
        time.sleep(1.2)  # a few history samples after the traffic
        upper = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=1)
        check_pipeline(server, sent)
        check_series(server.url, sent, lower, upper)
        check_accuracy(server.url, sent, lower, upper)
        check_top(server.url, sent)
        check_metrics(server, sent)
        check_page(server, sent, lower, upper)
    with deployment(extra_args=["--chart-js", "/nonexistent/chart.js"]) as empty:
        check_empty_page_without_charts(empty.url)
    log("PASS")


if __name__ == "__main__":
    main()
