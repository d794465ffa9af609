/// `GET /dashboard`: one page (no build step), its stylesheet and its script,
/// embedded here so that the binary needs no resource files wherever it is
/// installed; they are separate files so that the page runs under a
/// Content-Security-Policy without inline script or style. It reads
/// only the JSON routes and refreshes itself every few seconds; Chart.js draws
/// the charts when `/dashboard/assets/chart.js` is there, and every number is
/// also in the page's tiles and tables, which work without it.
///
/// Elements carry stable ids and `data-value` attributes (the raw JSON value)
/// for the browser test (`Tests/e2e/test_dashboard.py`).
enum DashboardPage {
    static let html = head + body + "</html>\n"

    /// What the page may load and do: its own stylesheet and scripts (no
    /// inline script or style, no `eval`), requests to the service only, no
    /// plugins, forms that stay on the service, and no framing by other pages
    /// (clickjacking; `X-Frame-Options: DENY` says the same to older
    /// browsers). Chart.js sets sizes through the CSSOM, which this allows.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    private static let head = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SymbolStream · Dashboard</title>
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
</head>

"""#

    /// `/dashboard/assets/dashboard.css`.
    static let style = #"""
:root {
  --bg: #f5f6fa; --card: #ffffff; --ink: #1d2433; --muted: #6b7385; --line: #e6e8ef;
  --accent: #5b5bd6; --accent-soft: #ecebfd; --good: #1f9d6a; --bad: #d64545; --warn: #d9822b; --blue: #2f7fd8;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.num, td.n, .kpi .value { font-variant-numeric: tabular-nums; }
header.top { display: flex; align-items: center; gap: 16px; flex-wrap: wrap; padding: 14px 28px;
  background: var(--card); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 5; }
.brand { font-weight: 700; font-size: 18px; letter-spacing: -0.01em; display: flex; align-items: center; gap: 8px; }
.brand .logo { width: 26px; height: 26px; border-radius: 7px; background: linear-gradient(135deg, #6d6af0, #3fb6d8);
  display: inline-block; }
.brand .sub { color: var(--muted); font-weight: 500; font-size: 14px; }
.live { display: flex; align-items: center; gap: 6px; color: var(--muted); font-size: 13px; }
.live .dot { width: 8px; height: 8px; border-radius: 50%; background: #b9bfcc; }
.live.on .dot { background: var(--good); box-shadow: 0 0 0 3px rgba(31,157,106,.18); }
.live.off .dot { background: var(--bad); }
form.range { margin-left: auto; display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
form.range select, form.range input, form.range button { font: inherit; padding: 6px 10px; border: 1px solid var(--line);
  border-radius: 8px; background: #fff; color: var(--ink); }
form.range button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
form.range .utc { color: var(--muted); font-size: 12px; }
main { padding: 22px 28px 40px; max-width: 1440px; margin: 0 auto; }
.notice { display: none; margin-bottom: 16px; padding: 10px 14px; border-radius: 10px; background: #fff4e5;
  color: #7a4b00; border: 1px solid #f4d9b0; }
.notice.show { display: block; }
.grid { display: grid; gap: 16px; }
.kpis { grid-template-columns: repeat(6, minmax(0, 1fr)); }
.two { grid-template-columns: repeat(2, minmax(0, 1fr)); }
@media (max-width: 1100px) { .kpis { grid-template-columns: repeat(3, minmax(0, 1fr)); } .two { grid-template-columns: 1fr; } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 14px; padding: 16px 18px;
  box-shadow: 0 1px 2px rgba(16,24,40,.04); min-width: 0; }
.card h2 { margin: 0 0 2px; font-size: 15px; font-weight: 650; }
.card .hint { margin: 0 0 12px; color: var(--muted); font-size: 12.5px; }
section { margin-top: 16px; }
.kpi .label { color: var(--muted); font-size: 12.5px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
.kpi .value { font-size: 28px; font-weight: 700; margin-top: 4px; letter-spacing: -0.02em; }
.kpi .foot { color: var(--muted); font-size: 12px; margin-top: 2px; }
.kpi.realtime { background: linear-gradient(180deg, #fbfbff, #f3f2ff); border-color: #dcdaf9; }
.kpi.realtime .label::before { content: ""; display: inline-block; width: 7px; height: 7px; border-radius: 50%;
  background: var(--good); margin-right: 6px; vertical-align: 1px; }
.chart { position: relative; height: 260px; }
.chart.small { height: 220px; }
.chart.spark { height: 38px; margin-top: 6px; }
.nochart .chart { display: none; }
.chart-missing { display: none; color: var(--muted); font-size: 13px; padding: 8px 0; }
.nochart .chart-missing { display: block; }
table { width: 100%; border-collapse: collapse; }
th, td { padding: 7px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.n, th.n { text-align: right; }
tbody tr:hover { background: #fafbff; }
.sym { font-weight: 700; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.tag { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; background: #eef0f5; color: #4a5163; }
.tag.vowel { background: var(--accent-soft); color: #3f3dbb; }
.table-wrap { overflow-x: auto; }
.bar-cell { position: relative; }
.bar-cell .bar { position: absolute; left: 0; top: 6px; bottom: 6px; background: var(--accent-soft); border-radius: 4px; z-index: 0; }
.bar-cell span { position: relative; z-index: 1; }
.tiles { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px; }
.tile { border: 1px solid var(--line); border-radius: 10px; padding: 10px 12px; }
.tile .label { color: var(--muted); font-size: 12px; }
.tile .value { font-size: 20px; font-weight: 700; }
.tile.bad .value { color: var(--bad); }
.pill { display: inline-flex; align-items: center; gap: 6px; padding: 3px 10px; border-radius: 999px; font-size: 12.5px;
  font-weight: 600; background: #eef0f5; color: #4a5163; }
.pill.ok, .pill.up { background: #e3f6ee; color: #12724c; }
.pill.degraded { background: #fff1df; color: #8a4d00; }
.pill.unavailable, .pill.down { background: #fde7e7; color: #a32626; }
.deps { display: flex; gap: 8px; flex-wrap: wrap; margin: 4px 0 12px; }
.reasons td.n.zero { color: #b3b8c4; }
.four { grid-template-columns: repeat(4, minmax(0, 1fr)); }
@media (max-width: 1100px) { .four { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
ol.top { list-style: none; margin: 6px 0 0; padding: 0; }
ol.top li { display: flex; align-items: baseline; gap: 10px; padding: 5px 0; border-bottom: 1px solid var(--line); }
ol.top li .rank { color: var(--muted); width: 1.6em; text-align: right; font-variant-numeric: tabular-nums; }
ol.top li .value { margin-left: auto; font-variant-numeric: tabular-nums; }
ol.top li.empty { color: var(--muted); }
footer { color: var(--muted); font-size: 12.5px; margin-top: 24px; }
footer a { color: var(--accent); text-decoration: none; margin-right: 12px; }

"""#

    private static let body = #"""
<body data-state="loading">
<header class="top">
  <div class="brand"><span class="logo"></span>SymbolStream <span class="sub">dashboard</span></div>
  <div class="live" id="live"><span class="dot"></span><span id="live-text">connecting…</span></div>
  <form class="range" id="range-form">
    <select id="preset" aria-label="Date range">
      <option value="5m">Last 5 minutes</option>
      <option value="1h">Last hour</option>
      <option value="24h" selected>Last 24 hours</option>
      <option value="today">Today</option>
      <option value="7d">Last 7 days</option>
      <option value="30d">Last 30 days</option>
      <option value="all">All time</option>
      <option value="custom">Custom range</option>
    </select>
    <input type="datetime-local" id="from" step="1" aria-label="From (UTC)">
    <span>→</span>
    <input type="datetime-local" id="to" step="1" aria-label="To (UTC)">
    <span class="utc">UTC</span>
    <button type="submit">Apply</button>
  </form>
</header>
<main>
  <div class="notice" id="notice"></div>
  <div class="notice" id="chart-notice">Charts are off: Chart.js could not be loaded from <code>/dashboard/assets/chart.js</code>
    (install <code>libjs-chart.js</code> or set <code>--chart-js</code>). Every number below is still live.</div>

  <section class="grid kpis">
    <div class="card kpi"><div class="label">Initials</div><div class="value" id="kpi-initials" data-value="">—</div>
      <div class="foot" id="kpi-range-label">in the selected range</div></div>
    <div class="card kpi"><div class="label">Followups</div><div class="value" id="kpi-followups" data-value="">—</div>
      <div class="foot">to those initials</div></div>
    <div class="card kpi"><div class="label">Followup rate</div><div class="value" id="kpi-followup-rate" data-value="">—</div>
      <div class="foot">followups per initial</div></div>
    <div class="card kpi"><div class="label">Guess accuracy</div><div class="value" id="kpi-accuracy" data-value="">—</div>
      <div class="foot">vs. a e i o u (y left out)</div></div>
    <div class="card kpi"><div class="label">Implied by followups</div><div class="value" id="kpi-implied-accuracy" data-value="">—</div>
      <div class="foot">answers the client rewarded</div></div>
    <div class="card kpi realtime"><div class="label">Last 5 minutes</div><div class="value" id="kpi-realtime" data-value="">—</div>
      <div class="foot"><span id="kpi-realtime-rate" data-value="">—</span> initials / min</div>
      <div class="spark chart"><canvas id="chart-realtime"></canvas></div></div>
  </section>

  <section class="card" id="series-card" data-total="">
    <h2>Requests over time</h2>
    <p class="hint" id="series-hint">Initials and their followups per bucket, from the rollups.</p>
    <div class="chart"><canvas id="chart-series"></canvas></div>
    <div class="chart-missing">Peak bucket: <span id="series-peak">—</span> initials.</div>
  </section>

  <section class="grid two">
    <div class="card">
      <h2>Initials per symbol</h2>
      <p class="hint">Vowels in indigo.</p>
      <div class="chart small"><canvas id="chart-counts"></canvas></div>
      <div class="chart-missing">See the table below.</div>
    </div>
    <div class="card">
      <h2>Followup rate per symbol</h2>
      <p class="hint">Followups per initial, after an answer True and after an answer False.</p>
      <div class="chart small"><canvas id="chart-rates"></canvas></div>
      <div class="chart-missing">See the table below.</div>
    </div>
  </section>

  <section class="card">
    <h2>Symbols and answers</h2>
    <p class="hint">Counts as in <code>/dashboard/range</code>; answers from <code>/dashboard/accuracy</code>. The implied label is the
      answer that drew more followups per initial; "agrees" is the share of our answers that gave it.</p>
    <div class="table-wrap">
    <table id="symbols">
      <thead><tr><th>Symbol</th><th class="n">Initials</th><th class="n">Followups</th><th class="n">Followup rate</th>
        <th class="n">Said True</th><th class="n">After True</th><th class="n">After False</th><th>Model</th><th>Implied</th>
        <th class="n">Accuracy</th><th class="n">Agrees</th><th>Earliest</th><th>Latest</th></tr></thead>
      <tbody id="symbol-rows"></tbody>
    </table>
    </div>
  </section>

  <section class="card" id="leaderboard">
    <h2>Leaderboard</h2>
    <p class="hint">All time, from the rankings Redis keeps at ingest (<code>/dashboard/top</code>); ties go to more initials
      (for the rate), then to the earlier letter.</p>
    <div class="grid four">
      <div><h2>Most initials</h2><ol class="top" id="top-initials" data-count=""></ol></div>
      <div><h2>Most followups</h2><ol class="top" id="top-followups" data-count=""></ol></div>
      <div><h2>Highest followup rate</h2><ol class="top" id="top-rate" data-count=""></ol></div>
      <div><h2>Most recently active</h2><ol class="top" id="top-recent" data-count=""></ol></div>
    </div>
  </section>

  <section class="card" id="pipeline">
    <h2>Pipeline health <span class="pill" id="pipe-status" data-value="">—</span></h2>
    <p class="hint">Since this process started, except backlog, lag and archived in total (from Redis).</p>
    <div class="deps"><span class="pill" id="dep-redis" data-value="">Redis —</span><span class="pill" id="dep-mariadb" data-value="">MariaDB —</span></div>
    <div class="tiles">
      <div class="tile"><div class="label">Events accepted</div><div class="value num" id="pipe-accepted" data-value="">—</div></div>
      <div class="tile"><div class="label">Rejected</div><div class="value num" id="pipe-rejected" data-value="">—</div></div>
      <div class="tile"><div class="label">Unavailable (503)</div><div class="value num" id="pipe-unavailable" data-value="">—</div></div>
      <div class="tile"><div class="label">Archived in total</div><div class="value num" id="pipe-archived" data-value="">—</div></div>
      <div class="tile"><div class="label">Backlog (events)</div><div class="value num" id="pipe-backlog" data-value="">—</div></div>
      <div class="tile"><div class="label">Archive lag</div><div class="value num" id="pipe-lag" data-value="">—</div></div>
      <div class="tile"><div class="label">Archive failures</div><div class="value num" id="pipe-failures" data-value="">—</div></div>
      <div class="tile"><div class="label">Archive retries</div><div class="value num" id="pipe-retries" data-value="">—</div></div>
    </div>
    <section class="grid two">
      <div>
        <h2>Success and failure over time</h2>
        <p class="hint" id="pipe-history-hint">Per second, sampled by the service.</p>
        <div class="chart small"><canvas id="chart-pipeline"></canvas></div>
        <div class="chart-missing">Last sample: <span id="pipe-last-rate">—</span> events accepted / s.</div>
      </div>
      <div>
        <h2>Rejected by reason</h2>
        <table class="reasons"><tbody id="reject-rows"></tbody></table>
      </div>
    </section>
  </section>

  <footer>JSON: <a href="/pipeline">/pipeline</a><a href="/health">/health</a><a href="/metrics">/metrics</a>
    <a id="link-range" href="#">/dashboard/range</a><a id="link-series" href="#">/dashboard/series</a>
    <a id="link-accuracy" href="#">/dashboard/accuracy</a><a href="/dashboard/top?by=rate&amp;n=26">/dashboard/top</a>
    · refreshes every 5 s · times in UTC</footer>
  <div id="errors" hidden data-count="0"></div>
</main>
<script src="/dashboard/assets/chart.js"></script>
<script src="/dashboard/assets/dashboard.js"></script>
</body>

"""#

    /// `/dashboard/assets/dashboard.js`.
    static let script = #"""
"use strict";
function reportError(message) {
  const box = document.getElementById("errors");
  box.textContent += message + "\n";
  box.dataset.count = String(Number(box.dataset.count) + 1);
}
window.addEventListener("error", (event) => reportError(event.message || "error"));
// Whatever the Content-Security-Policy blocks counts as an error of the page
// (the browser test checks there is none).
document.addEventListener("securitypolicyviolation", (event) =>
  reportError("blocked by the Content-Security-Policy: " + event.violatedDirective + " " + (event.blockedURI || "inline")));

const REFRESH_MS = 5000;
const LETTERS = "abcdefghijklmnopqrstuvwxyz".split("");
const VOWELS = new Set(["a", "e", "i", "o", "u"]);
const LEVELS = [["second", 1], ["minute", 60], ["hour", 3600], ["day", 86400]];
const PRESETS = { "5m": 300, "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };
const MAX_POINTS = 360;
const TOP_N = 5;
const RANKINGS = ["initials", "followups", "rate", "recent"];
const charts = {};
const hasCharts = typeof window.Chart !== "undefined";
let clockOffset = 0;  // server time minus browser time, in ms
let busy = false;

const $ = (id) => document.getElementById(id);
const fmtInt = (n) => (n === null || n === undefined) ? "—" : Number(n).toLocaleString("en-US");
const fmtPct = (x) => (x === null || x === undefined) ? "—" : (x * 100).toFixed(1) + "%";
const fmtRate = (x) => (x === null || x === undefined) ? "—" : Number(x).toFixed(2);

function show(id, value, text) {
  const el = $(id);
  el.dataset.value = (value === null || value === undefined) ? "" : String(value);
  el.textContent = text;
}

// Times: the server's wire format is "YYYY-MM-DD HH:MM:SS.ffffff" (UTC).
function parseServerTime(text) { return text ? new Date(text.replace(" ", "T").slice(0, 23) + "Z") : null; }
function serverNow() { return new Date(Date.now() + clockOffset); }
function bound(date) { return date.toISOString(); }  // YYYY-MM-DDTHH:MM:SS.mmmZ, accepted by every route
function startOfDay(date) { return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate())); }
function toInput(date) { return date.toISOString().slice(0, 19); }
function fromInput(text) { if (!text) return null; const t = text.length === 16 ? text + ":00" : text; const d = new Date(t + "Z"); return isNaN(d) ? null : d; }

async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || (path + ": HTTP " + response.status));
  return body;
}

// The selected range as [from, to) Dates; "all time" is bounded by the data.
function selectedRange() {
  const preset = $("preset").value;
  const now = serverNow();
  if (preset === "custom") {
    const from = fromInput($("from").value), to = fromInput($("to").value);
    if (!from || !to) throw new Error("from/to: pick both ends of the custom range");
    return { from, to, label: "from " + toInput(from).replace("T", " ") + " to " + toInput(to).replace("T", " ") };
  }
  if (preset === "today") {
    const from = startOfDay(now);
    return { from, to: new Date(from.getTime() + 86400000), label: "today (UTC)" };
  }
  if (preset === "all") return { from: new Date(Date.UTC(2000, 0, 1)), to: new Date(now.getTime() + 1000), label: "all time", all: true };
  const seconds = PRESETS[preset] || 86400;
  return { from: new Date(now.getTime() - seconds * 1000), to: now, label: $("preset").selectedOptions[0].textContent.toLowerCase() };
}

function chooseStep(from, to) {
  const span = (to - from) / 1000;
  for (const [name, seconds] of LEVELS) {
    if (Math.ceil(span / seconds) + 1 <= MAX_POINTS) return name;
  }
  return "day";
}

function timeLabel(text, step) {
  if (step === "second") return text.slice(11, 19);
  if (step === "minute") return text.slice(11, 16);
  if (step === "hour") return text.slice(5, 10) + " " + text.slice(11, 16);
  return text.slice(0, 10);
}

function makeChart(id, config) {
  if (!hasCharts) return null;
  if (!charts[id]) {
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: "index", intersect: false } }, config.options || {});
    charts[id] = new Chart($(id), config);
    $(id).dataset.ready = "1";
  }
  return charts[id];
}

function setChart(id, labels, datasets, config) {
  const chart = makeChart(id, config);
  if (!chart) return;
  chart.data.labels = labels;
  datasets.forEach((data, i) => { chart.data.datasets[i].data = data; });
  chart.update("none");
}

const axis = { grid: { color: "#eef0f5" }, ticks: { color: "#6b7385" } };
const bareAxis = { grid: { display: false }, ticks: { color: "#6b7385", maxRotation: 0, autoSkip: true } };

// ---- Sections -------------------------------------------------------------

function renderTotals(range, summaries, accuracy) {
  const initials = summaries.reduce((sum, s) => sum + s.count, 0);
  const followups = summaries.reduce((sum, s) => sum + s.followups, 0);
  show("kpi-initials", initials, fmtInt(initials));
  show("kpi-followups", followups, fmtInt(followups));
  const rate = initials > 0 ? followups / initials : null;
  show("kpi-followup-rate", rate, fmtPct(rate));
  show("kpi-accuracy", accuracy.accuracy, fmtPct(accuracy.accuracy));
  show("kpi-implied-accuracy", accuracy.implied_accuracy, fmtPct(accuracy.implied_accuracy));
  $("kpi-range-label").textContent = range.label;
}

function renderSymbols(summaries, accuracy) {
  const rows = $("symbol-rows");
  const most = Math.max(1, ...summaries.map((s) => s.count));
  if (!rows.children.length) {
    for (const letter of LETTERS) {
      const tr = document.createElement("tr");
      tr.id = "row-" + letter;
      tr.innerHTML = '<td class="sym">' + letter + '</td>' +
        '<td class="n bar-cell" data-field="count"><div class="bar"></div><span></span></td>' +
        ["followups", "followup_rate", "said_true", "after_true", "after_false"].map((f) => '<td class="n" data-field="' + f + '"></td>').join("") +
        '<td data-field="model"></td><td data-field="implied"></td><td class="n" data-field="accuracy"></td>' +
        '<td class="n" data-field="implied_accuracy"></td><td data-field="earliest"></td><td data-field="latest"></td>';
      rows.appendChild(tr);
    }
  }
  const cell = (letter, field) => $("row-" + letter).querySelector('[data-field="' + field + '"]');
  const put = (letter, field, value, text) => {
    const el = cell(letter, field);
    el.dataset.value = (value === null || value === undefined) ? "" : String(value);
    (el.querySelector("span") || el).textContent = text;
  };
  const label = (vowel) => vowel === true ? '<span class="tag vowel">vowel</span>' : vowel === false ? '<span class="tag">consonant</span>' : '<span class="tag">either</span>';
  summaries.forEach((s, i) => {
    const a = accuracy.symbols[i];
    put(s.symbol, "count", s.count, fmtInt(s.count));
    cell(s.symbol, "count").querySelector(".bar").style.width = (100 * s.count / most).toFixed(1) + "%";
    put(s.symbol, "followups", s.followups, fmtInt(s.followups));
    const rate = s.count > 0 ? s.followups / s.count : null;
    put(s.symbol, "followup_rate", rate, fmtPct(rate));
    const saidTrue = a.count > 0 ? a.answered_true / a.count : null;
    put(s.symbol, "said_true", saidTrue, fmtPct(saidTrue));
    put(s.symbol, "after_true", a.followup_rate_after_true, fmtPct(a.followup_rate_after_true));
    put(s.symbol, "after_false", a.followup_rate_after_false, fmtPct(a.followup_rate_after_false));
    const model = cell(s.symbol, "model"); model.dataset.value = String(a.vowel); model.innerHTML = label(a.vowel);
    const implied = cell(s.symbol, "implied"); implied.dataset.value = String(a.implied_vowel);
    implied.innerHTML = a.implied_vowel === null ? '<span class="tag">—</span>' : label(a.implied_vowel);
    put(s.symbol, "accuracy", a.accuracy, fmtPct(a.accuracy));
    put(s.symbol, "implied_accuracy", a.implied_accuracy, fmtPct(a.implied_accuracy));
    put(s.symbol, "earliest", s.earliest, s.earliest ? s.earliest.slice(5, 19) : "—");
    put(s.symbol, "latest", s.latest, s.latest ? s.latest.slice(5, 19) : "—");
  });

  const colors = LETTERS.map((l) => VOWELS.has(l) ? "#5b5bd6" : l === "y" ? "#9d9bea" : "#c9cddb");
  setChart("chart-counts", LETTERS, [summaries.map((s) => s.count)], {
    type: "bar",
    data: { labels: LETTERS, datasets: [{ label: "Initials", data: [], backgroundColor: colors, borderRadius: 4 }] },
    options: { plugins: { legend: { display: false } }, scales: { x: bareAxis, y: Object.assign({ beginAtZero: true }, axis) } },
  });
  const pct = (x) => x === null ? null : +(x * 100).toFixed(2);
  setChart("chart-rates", LETTERS, [accuracy.symbols.map((a) => pct(a.followup_rate_after_true)), accuracy.symbols.map((a) => pct(a.followup_rate_after_false))], {
    type: "bar",
    data: { labels: LETTERS, datasets: [
      { label: "after True", data: [], backgroundColor: "#5b5bd6", borderRadius: 3 },
      { label: "after False", data: [], backgroundColor: "#f0a35e", borderRadius: 3 }] },
    options: { plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: { x: bareAxis, y: Object.assign({ beginAtZero: true, ticks: { callback: (v) => v + "%", color: "#6b7385" } }, { grid: axis.grid }) } },
  });
}

function renderSeries(series) {
  const total = series.count.reduce((a, b) => a + b, 0);
  $("series-card").dataset.total = String(total);
  $("series-card").dataset.step = series.step;
  $("series-card").dataset.buckets = String(series.times.length);
  $("series-hint").textContent = "Initials and their followups per " + series.step + ", " + series.from.slice(0, 16) + " to " + series.to.slice(0, 16) + " UTC.";
  $("series-peak").textContent = fmtInt(series.count.length ? Math.max(...series.count) : 0);
  const labels = series.times.map((t) => timeLabel(t, series.step));
  setChart("chart-series", labels, [series.count, series.followups], {
    type: "line",
    data: { labels, datasets: [
      { label: "Initials", data: [], borderColor: "#5b5bd6", backgroundColor: "rgba(91,91,214,.12)", fill: true, tension: .25, pointRadius: 0, borderWidth: 2 },
      { label: "Followups", data: [], borderColor: "#3fb6a8", backgroundColor: "rgba(63,182,168,.08)", fill: true, tension: .25, pointRadius: 0, borderWidth: 2 }] },
    options: { plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: { x: Object.assign({}, bareAxis, { ticks: { color: "#6b7385", maxRotation: 0, autoSkip: true, maxTicksLimit: 12 } }),
        y: Object.assign({ beginAtZero: true }, axis) } },
  });
}

function renderRealtime(summaries, series) {
  const count = summaries.reduce((sum, s) => sum + s.count, 0);
  show("kpi-realtime", count, fmtInt(count));
  show("kpi-realtime-rate", count / 5, (count / 5).toFixed(1));
  const bins = [];  // 10-second bins of the per-second series
  for (let i = 0; i < series.count.length; i += 10) bins.push(series.count.slice(i, i + 10).reduce((a, b) => a + b, 0));
  setChart("chart-realtime", bins.map((_, i) => i), [bins], {
    type: "bar",
    data: { labels: [], datasets: [{ data: [], backgroundColor: "#8d8bea", borderRadius: 2 }] },
    options: { plugins: { legend: { display: false }, tooltip: { enabled: false } }, scales: { x: { display: false }, y: { display: false, beginAtZero: true } } },
  });
}

// One list per ranking: rank, symbol, the value ranked by (data-value holds
// it as the JSON has it, data-symbol the letter).
function renderTop(by, top) {
  const list = $("top-" + by);
  list.innerHTML = "";
  list.dataset.count = String(top.top.length);
  if (!top.top.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "no data yet";
    list.appendChild(li);
    return;
  }
  top.top.forEach((row, i) => {
    const value = by === "initials" ? row.count : by === "followups" ? row.followups : by === "rate" ? row.rate : row.latest;
    const text = by === "rate" ? fmtPct(value) : by === "recent" ? value.slice(5, 19) : fmtInt(value);
    const li = document.createElement("li");
    li.id = "top-" + by + "-" + (i + 1);
    li.dataset.symbol = row.symbol;
    li.dataset.value = String(value);
    li.innerHTML = '<span class="rank">' + (i + 1) + '</span> <span class="sym">' + row.symbol + '</span> <span class="value"></span>';
    li.querySelector(".value").textContent = text;
    list.appendChild(li);
  });
}

function renderPipeline(p) {
  const status = $("pipe-status");
  status.dataset.value = p.status; status.textContent = p.status; status.className = "pill " + p.status;
  for (const name of ["redis", "mariadb"]) {
    const d = p[name], el = $("dep-" + name);
    el.dataset.value = d.status;
    el.className = "pill " + d.status;
    el.textContent = (name === "redis" ? "Redis " : "MariaDB ") + d.status + (d.latency_ms !== undefined ? " · " + d.latency_ms.toFixed(1) + " ms" : "");
  }
  const a = p.archive;
  show("pipe-accepted", p.events.accepted, fmtInt(p.events.accepted));
  show("pipe-rejected", p.events.rejected, fmtInt(p.events.rejected));
  show("pipe-unavailable", p.events.unavailable, fmtInt(p.events.unavailable));
  show("pipe-archived", a.archived_total, fmtInt(a.archived_total));
  show("pipe-backlog", a.backlog, fmtInt(a.backlog));
  show("pipe-lag", a.lag_seconds, a.lag_seconds === null ? "—" : a.lag_seconds.toFixed(1) + " s");
  show("pipe-failures", a.failures, fmtInt(a.failures));
  show("pipe-retries", a.retries, fmtInt(a.retries));
  for (const [id, value] of [["pipe-unavailable", p.events.unavailable], ["pipe-failures", a.failures], ["pipe-backlog", 0]]) {
    $(id).parentElement.classList.toggle("bad", id !== "pipe-backlog" && value > 0);
  }
  const rows = $("reject-rows");
  rows.innerHTML = "";
  for (const [reason, count] of Object.entries(p.rejected)) {
    const tr = document.createElement("tr");
    tr.innerHTML = "<td>" + reason.replace(/_/g, " ") + '</td><td class="n' + (count ? "" : " zero") + '" id="reject-' + reason + '" data-value="' + count + '">' + fmtInt(count) + "</td>";
    rows.appendChild(tr);
  }
  const h = p.history;
  $("pipe-history-hint").textContent = "Per second, sampled every " + h.interval_seconds + " s by the service (last hour, since start).";
  const last = h.accepted_per_second.length ? h.accepted_per_second[h.accepted_per_second.length - 1] : null;
  $("pipe-last-rate").textContent = fmtRate(last);
  const labels = h.times.map((t) => t.slice(11, 19));
  setChart("chart-pipeline", labels, [h.accepted_per_second, h.archived_per_second, h.rejected_per_second, h.unavailable_per_second, h.archive_failures_per_second], {
    type: "line",
    data: { labels, datasets: [
      { label: "accepted", data: [], borderColor: "#1f9d6a", pointRadius: 0, borderWidth: 2, tension: .2 },
      { label: "archived", data: [], borderColor: "#2f7fd8", borderDash: [5, 4], pointRadius: 0, borderWidth: 2, tension: .2 },
      { label: "rejected", data: [], borderColor: "#d64545", pointRadius: 0, borderWidth: 2, tension: .2 },
      { label: "503", data: [], borderColor: "#d9822b", pointRadius: 0, borderWidth: 2, tension: .2 },
      { label: "archive failures", data: [], borderColor: "#7a1f5c", pointRadius: 0, borderWidth: 2, tension: .2 }] },
    options: { plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: { x: Object.assign({}, bareAxis, { ticks: { color: "#6b7385", maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } }), y: Object.assign({ beginAtZero: true }, axis) } },
  });
}

// ---- Refresh ------------------------------------------------------------------

async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const pipeline = await getJSON("/pipeline");
    const serverTime = parseServerTime(pipeline.time);
    if (serverTime) clockOffset = serverTime.getTime() - Date.now();
    renderPipeline(pipeline);

    const range = selectedRange();
    const from = bound(range.from), to = bound(range.to);
    const rangePath = "/dashboard/range/" + encodeURIComponent(from) + "/" + encodeURIComponent(to);
    const accuracyPath = "/dashboard/accuracy?from=" + encodeURIComponent(from) + "&to=" + encodeURIComponent(to);
    const [summaries, accuracy] = await Promise.all([getJSON(rangePath), getJSON(accuracyPath)]);
    renderTotals(range, summaries, accuracy);
    renderSymbols(summaries, accuracy);

    // The series covers the selected range, or for "all time" the days holding data.
    let seriesFrom = range.from, seriesTo = range.to;
    if (range.all) {
      const earliest = summaries.map((s) => s.earliest).filter(Boolean).sort()[0];
      const latest = summaries.map((s) => s.latest).filter(Boolean).sort().pop();
      seriesFrom = earliest ? startOfDay(parseServerTime(earliest)) : startOfDay(range.to);
      seriesTo = latest ? new Date(parseServerTime(latest).getTime() + 1000) : range.to;
    }
    const step = chooseStep(seriesFrom, seriesTo);
    const seriesPath = "/dashboard/series?from=" + encodeURIComponent(bound(seriesFrom)) + "&to=" + encodeURIComponent(bound(seriesTo)) + "&step=" + step;
    const now = serverNow(), fiveAgo = new Date(now.getTime() - 300000);
    const realtimeRange = "/dashboard/range/" + encodeURIComponent(bound(fiveAgo)) + "/" + encodeURIComponent(bound(now));
    const realtimeSeries = "/dashboard/series?from=" + encodeURIComponent(bound(fiveAgo)) + "&to=" + encodeURIComponent(bound(now)) + "&step=second";
    const [series, recent, recentSeries] = await Promise.all([getJSON(seriesPath), getJSON(realtimeRange), getJSON(realtimeSeries)]);
    renderSeries(series);
    renderRealtime(recent, recentSeries);
    const tops = await Promise.all(RANKINGS.map((by) => getJSON("/dashboard/top?by=" + by + "&n=" + TOP_N)));
    RANKINGS.forEach((by, i) => renderTop(by, tops[i]));

    $("link-range").href = rangePath; $("link-series").href = seriesPath; $("link-accuracy").href = accuracyPath;
    $("notice").classList.remove("show");
    $("live").className = "live on";
    $("live-text").textContent = "live · updated " + toInput(serverNow()).slice(11) + " UTC";
    document.body.dataset.state = "ready";
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  } catch (error) {
    $("notice").textContent = String(error.message || error);
    $("notice").classList.add("show");
    $("live").className = "live off";
    $("live-text").textContent = "offline · retrying";
    document.body.dataset.state = "error";
  } finally {
    busy = false;
  }
}

// The range lives in the address (?range=7d, or ?from=…&to=…) so a view can be shared.
function readAddress() {
  const params = new URLSearchParams(location.search);
  if (params.get("from") && params.get("to")) {
    $("preset").value = "custom";
    $("from").value = params.get("from").replace(" ", "T").replace("Z", "").slice(0, 19);
    $("to").value = params.get("to").replace(" ", "T").replace("Z", "").slice(0, 19);
  } else if (params.get("range") && [...$("preset").options].some((o) => o.value === params.get("range"))) {
    $("preset").value = params.get("range");
  }
}

function writeAddress() {
  const preset = $("preset").value;
  const query = preset === "custom" ? "?from=" + $("from").value + "&to=" + $("to").value : "?range=" + preset;
  history.replaceState(null, "", location.pathname + query);
}

function syncInputs() {
  if ($("preset").value === "custom") return;
  try { const r = selectedRange(); $("from").value = toInput(r.from); $("to").value = toInput(r.to); } catch (e) { }
}

document.body.classList.toggle("nochart", !hasCharts);
$("chart-notice").classList.toggle("show", !hasCharts);
document.body.dataset.charts = hasCharts ? "on" : "off";
readAddress();
syncInputs();
$("preset").addEventListener("change", () => { syncInputs(); writeAddress(); refresh(); });
for (const id of ["from", "to"]) $(id).addEventListener("change", () => { $("preset").value = "custom"; });
$("range-form").addEventListener("submit", (event) => { event.preventDefault(); writeAddress(); refresh(); });
refresh();
setInterval(() => { syncInputs(); refresh(); }, REFRESH_MS);

"""#
}
