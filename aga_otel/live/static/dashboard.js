// aga-otel live dashboard. Reads /dashboard/events (Server-Sent Events) and draws with
// <canvas>; no library, no network access beyond this server. Every value from the
// server is written with textContent, never parsed as HTML.
"use strict";

const SPAN_S = 300; // the time series keep the last 5 minutes
// ... and show what they have of it: 1 minute at least, growing in whole minutes.
function span() {
  const pts = state.points;
  const have = pts.length ? pts[pts.length - 1].t - pts[0].t : 0;
  return Math.min(SPAN_S, Math.max(60, Math.ceil(have / 60) * 60));
}
const COLORS = { c1: "#5ab0ff", c2: "#f2b84b", c3: "#ff6b6b", c4: "#6fd08c" };
const state = { points: [], updates: 0 };

// --- formatting --------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);
const isNum = (v) => typeof v === "number" && isFinite(v);
function fmtNum(v, digits = 3) {
  if (!isNum(v)) return "—";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  return Number(v.toPrecision(digits)).toString();
}
const fmtPct = (v) => (isNum(v) ? (v * 100).toFixed(1) + " %" : "—");
function fmtTime(unix, ms = true) {
  if (!isNum(unix)) return "—";
  const d = new Date(unix * 1000);
  const hms = d.toLocaleTimeString("en-GB", { hour12: false });
  return ms ? hms + "." + String(d.getMilliseconds()).padStart(3, "0") : hms;
}
function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function fillRows(tbody, rows, emptyText, cols) {
  tbody.replaceChildren();
  if (!rows.length) {
    const tr = el("tr", undefined, "empty"); const td = el("td", emptyText); td.colSpan = cols;
    tr.append(td); tbody.append(tr); return;
  }
  for (const cells of rows) {
    const tr = el("tr");
    for (const c of cells) tr.append(c instanceof Node ? c : el("td", c));
    tbody.append(tr);
  }
}
const td = (text, cls) => el("td", text, cls);
function breakdown(map) {
  const parts = Object.entries(map || {}).filter(([, v]) => v > 0).map(([k, v]) => k + " " + fmtNum(v));
  return parts.length ? parts.join(" · ") : "none";
}

// --- charts on canvas ----------------------------------------------------------------------
function surface(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "10px system-ui, sans-serif";
  return { ctx, w, h };
}
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 4, 6, 8, 10]) if (v <= m * p) return m * p; // quarters stay round
  return 10 * p;
}
function frame(ctx, box, yMax, fmtY) {
  ctx.strokeStyle = "#26313d"; ctx.fillStyle = "#8896a5"; ctx.lineWidth = 1;
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  const ticks = box.h < 100 ? 2 : 4;
  for (let i = 0; i <= ticks; i++) {
    const y = box.t + box.h - (box.h * i) / ticks;
    ctx.beginPath(); ctx.moveTo(box.l, y + 0.5); ctx.lineTo(box.l + box.w, y + 0.5); ctx.stroke();
    ctx.fillText(fmtY((yMax * i) / ticks), box.l - 4, y);
  }
}
function timeX(box, t1) {
  const width = span();
  return (t) => box.l + box.w * (1 - (t1 - t) / width);
}
function timeAxis(ctx, box, t1) {
  ctx.textAlign = "center"; ctx.textBaseline = "top"; ctx.fillStyle = "#8896a5";
  const width = span(), step = width <= 60 ? 15 : width <= 120 ? 30 : 60;
  for (let s = 0; s <= width; s += step) {
    const x = box.l + box.w * (1 - s / width);
    const label = s === 0 ? "now" : step === 60 ? "-" + s / 60 + "m" : "-" + s + "s";
    ctx.fillText(label, x, box.t + box.h + 3);
  }
  return timeX(box, t1);
}
function lineChart(canvas, series, opts = {}) {
  const { ctx, w, h } = surface(canvas);
  const pts = state.points;
  const box = { l: 44, t: 6, w: w - 52, h: h - (opts.noTimeAxis ? 10 : 22) };
  const t1 = pts.length ? pts[pts.length - 1].t : 0;
  let max = opts.max || 0;
  if (!opts.max) for (const p of pts) for (const s of series) if (isNum(p[s.key])) max = Math.max(max, p[s.key]);
  const yMax = opts.max || niceMax(max);
  frame(ctx, box, yMax, opts.fmtY || ((v) => fmtNum(v, 2)));
  const x = opts.noTimeAxis ? timeX(box, t1) : timeAxis(ctx, box, t1);
  for (const s of series) {
    ctx.strokeStyle = COLORS[s.color]; ctx.lineWidth = 1.6; ctx.beginPath();
    let pen = false, lastT = null;
    for (const p of pts) {
      const v = p[s.key];
      if (!isNum(v) || p.t < t1 - span() || (lastT !== null && p.t - lastT > 5)) { pen = false; }
      if (isNum(v) && p.t >= t1 - span()) {
        const y = box.t + box.h - (box.h * Math.min(v, yMax)) / yMax;
        if (pen) ctx.lineTo(x(p.t), y); else ctx.moveTo(x(p.t), y);
        pen = true;
      }
      lastT = p.t;
    }
    ctx.stroke();
  }
}
function heatmap(canvas) {
  const { ctx, w, h } = surface(canvas);
  const pts = state.points;
  const last = pts[pts.length - 1];
  const layers = last ? Object.keys(last.layers) : [];
  const box = { l: 44, t: 2, w: w - 52, h: h - 18 };
  if (!layers.length) return;
  const t1 = last.t, rowH = box.h / layers.length;
  const x = timeAxis(ctx, box, t1);
  const colW = Math.max(2, box.w / span() + 0.5);
  for (const p of pts) {
    if (p.t < t1 - span()) continue;
    layers.forEach((layer, i) => {
      const v = p.layers[layer];
      if (!isNum(v)) return;
      ctx.fillStyle = `rgba(90, 176, 255, ${0.08 + 0.92 * Math.min(1, v)})`;
      ctx.fillRect(x(p.t) - colW, box.t + i * rowH, colW, Math.max(1, rowH - 1));
    });
  }
  ctx.fillStyle = "#8896a5"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  const every = Math.ceil(layers.length / Math.max(1, Math.floor(box.h / 12)));
  layers.forEach((layer, i) => { if (i % every === 0) ctx.fillText("L" + layer, box.l - 4, box.t + (i + 0.5) * rowH); });
}
function bars(canvas, dist, fmtBound, color) {
  const { ctx, w, h } = surface(canvas);
  const box = { l: 44, t: 6, w: w - 52, h: h - 22 };
  if (!dist) { ctx.fillStyle = "#8896a5"; ctx.fillText("no data", box.l, box.t + 10); return; }
  const counts = dist.counts, n = counts.length, total = counts.reduce((a, b) => a + b, 0);
  const shares = counts.map((c) => (total ? c / total : 0));
  const yMax = niceMax(Math.max(...shares, 0.01));
  frame(ctx, box, yMax, (v) => Math.round(v * 100) + "%");
  const bw = box.w / n;
  ctx.fillStyle = COLORS[color];
  shares.forEach((s, i) => {
    const bh = (box.h * s) / yMax;
    ctx.fillRect(box.l + i * bw + 1, box.t + box.h - bh, Math.max(1, bw - 2), bh);
  });
  ctx.fillStyle = "#8896a5"; ctx.textAlign = "center"; ctx.textBaseline = "top";
  const every = Math.ceil(n / Math.max(1, Math.floor(box.w / 34)));
  dist.bounds.forEach((b, i) => { if (i % every === 0) ctx.fillText(fmtBound(b), box.l + (i + 1) * bw, box.t + box.h + 3); });
}

// --- panels --------------------------------------------------------------------------------
function renderCounters(u) {
  const values = Object.assign({}, u.counters, u.gauges);
  for (const node of document.querySelectorAll("[data-metric]")) {
    const v = values[node.dataset.metric];
    node.dataset.value = isNum(v) ? String(v) : "";
    setText(node, node.dataset.metric.endsWith("slot_change_rate") ? fmtNum(v, 3) : fmtNum(v));
    const tile = node.closest(".warn-if");
    if (tile) tile.classList.toggle("alarm", isNum(v) && v > 0);
  }
  const w = u.window || {};
  setText($("rate-forward"), fmtNum(w.forward_per_s) + " /s");
  setText($("rate-events"), fmtNum(w.events_per_s) + " /s");
  setText($("activation"), fmtPct(w.activation));
  const l = w.latency_ms || {};
  setText($("latency-p99"), isNum(l.p99) ? fmtNum(l.p99, 3) + " ms" : "—");
  setText($("latency-rest"), `p50 ${fmtNum(l.p50, 3)} · p95 ${fmtNum(l.p95, 3)} ms`);
  const b = u.breakdowns || {};
  setText($("drops-by-reason"), breakdown(b.aga_otel_events_dropped_total));
  setText($("failures-by-exporter"), breakdown(b.aga_otel_export_failures_total));
  const ops = b.aga_audit_operations_total || {};
  setText($("audit-failed"), Object.keys(ops).length + " kinds");
  for (const node of document.querySelectorAll(".win")) setText(node, fmtNum(w.seconds ? Math.round(w.seconds) : null));
  const util = (u.gauges || {}).aga_knowledge_utilization;
  setText($("kb-util"), fmtPct(util));
  $("kb-meter").value = isNum(util) ? util : 0;
  setText($("kb-note"), isNum(util) ? "" : "No plugin bound: knowledge figures appear after bind_plugin(plugin).");
}
function renderIdentity(id) {
  if (!id) return;
  setText($("id-service"), id.service || "—");
  setText($("id-instance"), id.instance || "—");
  setText($("id-model"), id.model || "not attached");
  const aga = id.aga || {};
  setText($("id-aga"), aga.version ? `${aga.version} · ${aga.device || "?"} · ${aga.max_slots || "?"} slots` : "—");
  setText($("id-version"), id.version || "—");
  $("id-instance").title = id.instance || "";
}
function renderAlerts(a) {
  const firing = (a && a.firing) || [], resolved = (a && a.resolved) || [];
  setText($("alerts-summary"), a ? `${firing.length} firing · ${resolved.length} resolved (15 min)` : "alerting off");
  const rows = [];
  for (const r of firing.concat(resolved)) {
    const stateCell = td(r.state, "s-" + r.state);
    const tr = [stateCell, td(r.rule), td(r.severity, "s-" + r.severity), td(r.message), td(fmtTime(r.state === "firing" ? r.since : r.at, false))];
    rows.push(tr);
  }
  fillRows($("alerts"), rows, a ? "no alert firing" : "alerting is off", 5);
  for (const [i, tr] of [...$("alerts").children].entries()) {
    const r = firing.concat(resolved)[i];
    if (r) { tr.dataset.rule = r.rule; tr.dataset.state = r.state; }
  }
}
function renderHealth(hl) {
  const badge = $("health-status");
  const status = (hl && hl.status) || "unknown";
  setText(badge, status); badge.className = "badge s-" + status;
  const rows = ((hl && hl.checks) || []).map((c) => [td(c.name), td(c.skipped ? "skipped" : c.status, "s-" + c.status), td(c.detail || "", "mono")]);
  fillRows($("health"), rows, hl ? "no checks" : "health is off", 3);
}
function renderAudit(rows) {
  const out = (rows || []).map((r) => [
    td(r.seq), td(fmtTime(r.time)), td(r.operation),
    td(r.success ? "ok" : "failed" + (r.error ? ": " + r.error : ""), r.success ? "s-ok" : "s-failed"),
    td(r.details, "mono"),
  ]);
  fillRows($("audit"), out, rows ? "no audit entries yet" : "audit details hidden (dashboard_token or dashboard_verbose shows them) or the audit trail is off", 5);
}
function renderCharts(u) {
  const w = u.window || {};
  lineChart($("chart-latency"), [
    { key: "p50", color: "c1" }, { key: "p95", color: "c2" }, { key: "p99", color: "c3" },
  ], { fmtY: (v) => fmtNum(v, 2) });
  lineChart($("chart-activation"), [{ key: "activation", color: "c1" }], { max: 1, fmtY: (v) => Math.round(v * 100) + "%", noTimeAxis: true });
  heatmap($("chart-layers"));
  const d = w.distributions || {};
  bars($("chart-gate"), d.gate, (b) => fmtNum(b, 2), "c1");
  bars($("chart-entropy"), d.entropy, (b) => fmtNum(b, 2), "c4");
  lineChart($("chart-retrieval"), [{ key: "results_per_s", color: "c4" }, { key: "injected_per_s", color: "c2" }]);
}

function render(u) {
  state.last = u;
  const t = $("snapshot-time");
  t.dataset.time = isNum(u.time) ? String(u.time) : "";
  setText(t, fmtTime(u.time));
  renderCounters(u);
  renderIdentity(u.identity);
  renderAlerts(u.alerts);
  renderHealth(u.health);
  renderAudit(u.audit);
  renderCharts(u);
  state.updates += 1;
  document.body.dataset.updates = String(state.updates);
}

// --- the stream ----------------------------------------------------------------------------
function addPoint(p) {
  if (!p || !isNum(p.t)) return;
  const pts = state.points;
  if (pts.length && pts[pts.length - 1].t >= p.t) return;
  pts.push(p);
  while (pts.length && pts[0].t < p.t - SPAN_S - 5) pts.shift();
}
function connect() {
  const status = $("status");
  const source = new EventSource("/dashboard/events");
  source.addEventListener("history", (ev) => {
    state.points = [];
    for (const p of JSON.parse(ev.data).points || []) addPoint(p);
    document.body.dataset.history = String(state.points.length); // points from before the page
    if (state.last) renderCharts(state.last);
  });
  source.onopen = () => { status.dataset.state = "live"; setText(status, "live"); };
  source.onmessage = (ev) => {
    const u = JSON.parse(ev.data);
    addPoint(u.point);
    render(u);
  };
  source.onerror = () => { status.dataset.state = "reconnecting"; setText(status, "reconnecting"); };
}
window.addEventListener("resize", () => { if (state.last) renderCharts(state.last); });
if (window.location.search.includes("token=")) {
  // The server has set the token cookie; keep the secret out of the address bar and history.
  window.history.replaceState(null, "", window.location.pathname);
}
connect();
