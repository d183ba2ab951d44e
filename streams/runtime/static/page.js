// The live page: customers at risk with their 90-day trend, one customer's history and what
// changed, the whole population, recent alerts. Plain JavaScript, no build step; charts by
// Chart.js, served by the worker from /static/vendor (the page works offline).
"use strict";
const REFRESH_MS = 3000;
const POPULATION_MS = 30000;
const TOKEN_KEY = "relscore.token";
const BANDS = ["excellent", "good", "fair", "poor"];
const COLORS = {
  ink: "#1d2330", excellent: "#127a3d", good: "#7cb342", fair: "#f79009", poor: "#b42318",
  critical: "#b42318", warning: "#f79009", info: "#175cd3",
  purchase: "#175cd3", depth: "#7a5af8", support: "#e04f16", engagement: "#0e9384",
  satisfaction: "#c11574", revenue: "#667085",
};
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const fmt = (n) => (typeof n === "number" ? n.toFixed(1) : "-");
const when = (ts) => (ts ? ts.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC") : "");
const day = (ms) => new Date(ms).toISOString().slice(0, 10);
const ms = (ts) => Date.parse(ts);
const bandOf = (score) => (score >= 80 ? "excellent" : score >= 60 ? "good" : score >= 40 ? "fair" : "poor");

// --- the API, with the bearer token kept for this browser tab ---------------------------------

class AuthError extends Error {}

function askForToken(refused) {
  if (refused) sessionStorage.removeItem(TOKEN_KEY);
  $("token-refused").textContent = refused;
  document.body.dataset.auth = refused ? "refused" : "needed";
  const dialog = $("token-dialog");
  if (!dialog.open) dialog.showModal();
  $("token-input").focus();
}

$("token-form").addEventListener("submit", (event) => {
  const token = $("token-input").value.trim();
  if (!token) { event.preventDefault(); return; }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token-input").value = "";
  document.body.dataset.auth = "sent";
  setTimeout(() => { refresh(); refreshPopulation(); }, 0);
});

$("forget-token").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  askForToken("");
});

async function api(url, init) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(url, { cache: "no-store", ...(init || {}), headers });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    askForToken(token ? "That token was refused: check it and try again." : "");
    throw new AuthError("waiting for a token");
  }
  if (response.status === 403) {
    throw new Error(body.detail || "this token may only read: acknowledging and snoozing need an operate token");
  }
  if (!response.ok) throw new Error(body.detail || `${url}: HTTP ${response.status}`);
  if (token) document.body.dataset.auth = "ok";
  return body;
}

function showError(err) {
  if (err instanceof AuthError) return;
  $("status").className = "status error";
  $("status").textContent = String(err.message || err);
}

// --- charts ---------------------------------------------------------------------------------

const timeAxis = (display) => ({
  type: "linear", display,
  ticks: { callback: (value) => day(value), maxTicksLimit: 6, maxRotation: 0 },
});

function sparkline(points) {
  const canvas = el("canvas", { class: "sparkline", width: "130", height: "34",
                                "data-points": String(points.length) });
  const last = points.length ? points[points.length - 1][1] : 50;
  new Chart(canvas, {
    type: "line",
    data: { datasets: [{ data: points.map(([t, s]) => ({ x: ms(t), y: s })),
                         borderColor: COLORS[bandOf(last)], borderWidth: 1.5, pointRadius: 0 }] },
    options: { responsive: false, animation: false, events: [],
               plugins: { legend: { display: false }, tooltip: { enabled: false } },
               scales: { x: timeAxis(false), y: { display: false, min: 0, max: 100 } } },
  });
  return canvas;
}

function destroyCharts(root) {
  for (const canvas of root.querySelectorAll("canvas")) {
    const chart = Chart.getChart(canvas);
    if (chart) chart.destroy();
  }
}

// --- the at-risk table ----------------------------------------------------------------------

let atRisk = { threshold: 60, customers: [] };
let shownKey = "";

function change(value) {
  if (typeof value !== "number") return el("span", { class: "num muted" }, "-");
  const cls = value < 0 ? "down" : value > 0 ? "up" : "";
  return el("span", { class: "num " + cls }, (value > 0 ? "+" : "") + value.toFixed(1));
}

function belowFor(c) {
  if (!c.below_since) return el("span", { class: "muted" }, "-");
  const days = Math.max(0, Math.round((ms(c.as_of) - ms(c.below_since)) / 86400000));
  return el("span", { class: "num" }, `${day(ms(c.below_since))} (${days} d)`);
}

function drivers(list) {
  if (!list || !list.length) return null;
  return el("ul", { class: "drivers" }, ...list.map((d) => el("li", {}, d.detail)));
}

function changes(list) {
  if (!list || !list.length) return null;
  return el("div", { class: "muted" }, "last move " + list.slice(0, 2).map((c) => c.text).join("; "));
}

function sortRows(rows, by) {
  const last = (v) => (v === null || v === undefined ? Infinity : v);
  const key = {
    score: (c) => c.score,
    change_7d: (c) => last(c.change_7d),
    change_30d: (c) => last(c.change_30d),
    below_since: (c) => (c.below_since ? ms(c.below_since) : Infinity),
  }[by] || ((c) => c.score);
  return rows.slice().sort((a, b) => key(a) - key(b) || a.score - b.score);
}

function setOptions(select, values) {
  const chosen = select.value;
  const wanted = ["", ...values];
  const have = [...select.options].map((o) => o.value);
  if (have.join("\n") === wanted.join("\n")) return;
  select.replaceChildren(...wanted.map((v) => el("option", { value: v }, v || "all")));
  select.value = wanted.includes(chosen) ? chosen : "";
}

function renderAtRisk() {
  const all = atRisk.customers || [];
  const segments = [...new Set(all.map((c) => c.segment).filter(Boolean))].sort();
  const owners = [...new Set(all.map((c) => c.owner).filter(Boolean))].sort();
  setOptions($("filter-segment"), segments);
  setOptions($("filter-owner"), owners);
  $("owner-label").style.display = owners.length ? "" : "none";
  const segment = $("filter-segment").value;
  const owner = $("filter-owner").value;
  const rows = sortRows(all.filter((c) => (!segment || c.segment === segment)
                                        && (!owner || c.owner === owner)), $("sort").value);
  const key = JSON.stringify([rows, segment, owner]);
  if (key === shownKey) return;
  shownKey = key;
  $("summary").textContent = `${all.length} customer${all.length === 1 ? "" : "s"} below ${atRisk.threshold}`;
  const body = $("at-risk");
  destroyCharts(body);
  if (!rows.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "7", class: "empty" },
      all.length ? "No customer at risk matches the filters." : "No customer is below the threshold.")));
    return;
  }
  body.replaceChildren(...rows.map((c) => {
    const row = el("tr", { class: "customer", id: "risk-" + c.customer_id, "data-customer": c.customer_id },
      el("td", { class: "cid" }, c.customer_id,
        c.segment || c.owner ? el("div", { class: "muted" }, [c.segment, c.owner].filter(Boolean).join(", ")) : null),
      el("td", {}, el("div", { class: "score" }, fmt(c.score)), el("span", { class: "band " + c.band }, c.band)),
      el("td", {}, sparkline(c.spark || [])),
      el("td", {}, change(c.change_7d)),
      el("td", {}, change(c.change_30d)),
      el("td", {}, belowFor(c)),
      el("td", {}, changes(c.change), drivers((c.drivers || []).slice(0, 2))));
    row.addEventListener("click", () => showDetail(c.customer_id));
    return row;
  }));
}

async function refreshAtRisk() {
  atRisk = await api("/at-risk?limit=200");
  renderAtRisk();
}

for (const id of ["filter-segment", "filter-owner", "sort"]) $(id).addEventListener("change", renderAtRisk);

// --- one customer: history chart, alert points, what changed ---------------------------------

async function showDetail(cid) {
  const box = $("detail");
  box.className = "open";
  box.dataset.customer = cid;
  destroyCharts(box);
  box.replaceChildren(el("p", { class: "muted" }, `Loading ${cid}...`));
  for (const row of document.querySelectorAll("#at-risk tr.customer")) {
    row.classList.toggle("selected", row.dataset.customer === cid);
  }
  try {
    const enc = encodeURIComponent(cid);
    const [c, h] = await Promise.all([api("/customers/" + enc), api(`/customers/${enc}/history?days=400`)]);
    const points = h.points || [];
    const alerts = h.alerts || [];
    const canvas = el("canvas", { id: "history-chart", "data-points": String(points.length),
                                  "data-alerts": String(alerts.length) });
    const datasets = [{
      label: "score", data: points.map((p) => ({ x: ms(p.as_of), y: p.score })),
      borderColor: COLORS.ink, backgroundColor: COLORS.ink, borderWidth: 3, pointRadius: 0, order: 1,
    }];
    const names = [...new Set(points.flatMap((p) => Object.keys(p.components || {})))];
    for (const name of names) {
      const data = points.filter((p) => typeof (p.components || {})[name] === "number")
        .map((p) => ({ x: ms(p.as_of), y: p.components[name] }));
      if (!data.length) continue;
      datasets.push({ label: name, data, borderColor: COLORS[name] || "#98a2b3",
                      backgroundColor: COLORS[name] || "#98a2b3", borderWidth: 1.2,
                      borderDash: [4, 3], pointRadius: 0, order: 2 });
    }
    datasets.push({
      type: "scatter", label: "alerts", order: 0,
      data: alerts.map((a) => ({ x: ms(a.as_of), y: a.score, alert: a })),
      pointStyle: "triangle", pointRadius: 8, pointHoverRadius: 10,
      backgroundColor: alerts.map((a) => COLORS[a.severity] || COLORS.warning), borderColor: "#fff",
    });
    const changed = whatChanged(points, alerts);
    box.replaceChildren(
      el("h2", {}, `${c.customer_id}: ${fmt(c.score)} `, el("span", { class: "band " + c.band }, c.band)),
      el("p", { class: "sub" }, `as of ${when(c.as_of)}; ${c.events_seen} events, confidence ${c.confidence}, ${c.open_tickets} open tickets${c.segment ? ", " + c.segment : ""}. ${points.length} daily points and ${alerts.length} alerts in the last ${h.days} days.`),
      el("div", { class: "chart-box" }, canvas),
      drivers(c.drivers) ? el("h3", {}, "What pulls it down now") : null, drivers(c.drivers),
      el("h3", {}, "What changed, newest first"),
      changed.length
        ? el("ol", { class: "changes" }, ...changed.map((item) => el("li", { class: item.kind },
            el("span", { class: "num" }, `${day(item.at)} `), item.text)))
        : el("p", { class: "muted" }, "No move of a point or more in this window."));
    new Chart(canvas, {
      type: "line",
      data: { datasets },
      options: {
        maintainAspectRatio: false, animation: false, parsing: true,
        interaction: { mode: "nearest", intersect: false },
        plugins: {
          legend: { labels: { boxWidth: 12, font: { size: 11 } } },
          tooltip: { callbacks: {
            title: (items) => (items.length ? day(items[0].parsed.x) : ""),
            label: (item) => (item.raw && item.raw.alert
              ? `${item.raw.alert.type.replace("_", " ")} at ${fmt(item.raw.alert.score)}`
              : `${item.dataset.label}: ${fmt(item.parsed.y)}`),
          } },
        },
        scales: { x: timeAxis(true), y: { min: 0, max: 100, ticks: { stepSize: 20 } } },
      },
    });
    box.dataset.ready = cid;
  } catch (err) {
    box.replaceChildren(el("p", { class: "muted" }, String(err.message || err)));
  }
}

// The moves of a point or more from one day to the next, with the components that moved most,
// and the alerts with the change each one carries (its sentences), newest first.
function whatChanged(points, alerts) {
  const value = (v) => (typeof v === "number" ? v.toFixed(0) : "no data");
  const items = alerts.map((a) => ({
    at: ms(a.as_of), kind: "alerted",
    text: `${a.type.replace("_", " ")} at ${fmt(a.score)}: ` + ((a.change && a.change.length)
      ? a.change.map((c) => c.text) : (a.drivers || []).map((d) => d.detail)).join("; "),
  }));
  for (let i = 1; i < points.length; i++) {
    const before = points[i - 1], now = points[i];
    const delta = now.score - before.score;
    if (Math.abs(delta) < 1) continue;
    const names = new Set([...Object.keys(before.components || {}), ...Object.keys(now.components || {})]);
    const moved = [...names].map((n) => [n, (before.components || {})[n], (now.components || {})[n]])
      .filter(([, a, b]) => (typeof a === "number") !== (typeof b === "number")
                            || (typeof a === "number" && Math.abs(b - a) >= 1))
      .sort((x, y) => Math.abs((y[2] ?? 0) - (y[1] ?? 0)) - Math.abs((x[2] ?? 0) - (x[1] ?? 0)))
      .slice(0, 3);
    items.push({
      at: ms(now.as_of), kind: "move",
      text: `${fmt(before.score)} \u2192 ${fmt(now.score)} (${delta > 0 ? "+" : ""}${delta.toFixed(1)})`
        + (moved.length ? ": " + moved.map(([n, a, b]) => `${n} ${value(a)} \u2192 ${value(b)}`).join(", ") : ""),
    });
  }
  return items.sort((x, y) => y.at - x.at || (x.kind === "alerted" ? -1 : 1)).slice(0, 40);
}

// --- search ---------------------------------------------------------------------------------

let searchTimer = null;

async function search(q) {
  const box = $("search-results");
  if (!q) { box.className = ""; box.replaceChildren(); return; }
  try {
    const found = await api(`/search?q=${encodeURIComponent(q)}&limit=10`);
    const hits = found.customers || [];
    box.replaceChildren(...(hits.length ? hits.map((c) => {
      const hit = el("div", { class: "hit", "data-customer": c.customer_id },
        el("strong", {}, c.customer_id), el("span", { class: "num" }, fmt(c.score)),
        el("span", { class: "band " + c.band }, c.band));
      hit.addEventListener("click", () => { box.className = ""; showDetail(c.customer_id); });
      return hit;
    }) : [el("div", { class: "hit muted" }, `no customer id starts with ${q}`)]));
    box.className = "open";
  } catch (err) {
    showError(err);
  }
}

$("search").addEventListener("input", (event) => {
  clearTimeout(searchTimer);
  const q = event.target.value.trim();
  searchTimer = setTimeout(() => search(q), 200);
});
$("search").addEventListener("keydown", (event) => {
  if (event.key !== "Enter") return;
  const first = document.querySelector("#search-results .hit[data-customer]");
  if (first) first.click();
});

// --- the population -------------------------------------------------------------------------

let bandsChart = null;
let histogramChart = null;

async function refreshPopulation() {
  if ($("token-dialog").open) return;
  try {
    const p = await api("/population?days=120");
    const days = p.days || [];
    const labels = days.map((d) => d.day);
    const datasets = BANDS.map((band) => ({
      label: band, data: days.map((d) => (d.counts || {})[band] || 0), fill: true,
      borderColor: COLORS[band], backgroundColor: COLORS[band] + "99", borderWidth: 1, pointRadius: 0,
    }));
    if (!bandsChart) {
      bandsChart = new Chart($("bands-chart"), {
        type: "line", data: { labels, datasets },
        options: { maintainAspectRatio: false, animation: false,
                   plugins: { legend: { labels: { boxWidth: 12, font: { size: 11 } } },
                              title: { display: true, text: "customers per band, by day" } },
                   scales: { x: { ticks: { maxTicksLimit: 6, maxRotation: 0 } }, y: { stacked: true, beginAtZero: true } } },
      });
    } else {
      bandsChart.data.labels = labels;
      bandsChart.data.datasets.forEach((set, i) => { set.data = datasets[i].data; });
      bandsChart.update();
    }
    const buckets = p.histogram || [];
    const hist = { labels: buckets.map((b) => `${b.from}-${b.to}`),
                   datasets: [{ label: "customers", data: buckets.map((b) => b.count),
                                backgroundColor: buckets.map((b) => COLORS[bandOf(b.from)]) }] };
    if (!histogramChart) {
      histogramChart = new Chart($("histogram-chart"), {
        type: "bar", data: hist,
        options: { maintainAspectRatio: false, animation: false,
                   plugins: { legend: { display: false },
                              title: { display: true, text: "scores now" } },
                   scales: { y: { beginAtZero: true } } },
      });
    } else {
      histogramChart.data = hist;
      histogramChart.update();
    }
    $("bands-chart").dataset.days = String(days.length);
  } catch (err) {
    showError(err);
  }
}

// --- recent alerts, acknowledge and snooze --------------------------------------------------

async function act(alertId, what) {
  const path = `/alerts/${encodeURIComponent(alertId)}/${what}`;
  try {
    await api(what === "snooze" ? path + "?until=1d" : path, { method: "POST" });
    await refreshAlerts();
  } catch (err) {
    showError(err);
  }
}

function alertActions(a) {
  const state = el("span", { class: "state " + a.state }, a.state === "acknowledged"
    ? `acknowledged ${a.acknowledged_by ? "by " + a.acknowledged_by + " " : ""}${when(a.acknowledged_at)}`
    : "open");
  const snoozed = a.snoozed_until ? el("span", { class: "muted" }, `snoozed until ${when(a.snoozed_until)}`) : null;
  const ack = a.state === "acknowledged" ? null
    : el("button", { type: "button", class: "ack", title: "Mark this alert handled" }, "Acknowledge");
  const snooze = el("button", { type: "button", class: "snooze", title: "Hold this customer's new alerts for a day" }, "Snooze 1 day");
  if (ack) ack.addEventListener("click", () => act(a.alert_id, "ack"));
  snooze.addEventListener("click", () => act(a.alert_id, "snooze"));
  return el("div", { class: "actions" }, state, snoozed, ack, snooze);
}

async function refreshAlerts() {
  const data = await api("/alerts/recent?limit=25");
  const list = data.alerts || [];
  const box = $("alerts");
  if (!list.length) {
    box.replaceChildren(el("div", { class: "empty" }, "No alerts yet."));
    return;
  }
  box.replaceChildren(...list.map((a) => {
    const who = el("span", { class: "what" }, `${a.customer_id}`);
    who.addEventListener("click", () => showDetail(a.customer_id));
    const why = (a.change && a.change.length ? a.change.map((c) => c.text)
      : (a.drivers || []).map((d) => d.detail)).join("; ");
    return el("div", { class: "alert", "data-alert": a.alert_id, "data-customer": a.customer_id, "data-state": a.state },
      el("div", {}, el("span", { class: "sev " + a.severity }, a.severity.toUpperCase()),
        who, ` ${a.type.replace("_", " ")} at ${fmt(a.score)}`,
        typeof a.previous_score === "number" ? el("span", { class: "muted" }, ` (was ${fmt(a.previous_score)})`) : null),
      el("div", { class: "muted" }, when(a.as_of)),
      why ? el("div", { class: "why" }, why) : null,
      a.drivers && a.drivers.length && a.change && a.change.length
        ? el("div", { class: "why muted" }, "pulls it down: " + a.drivers.map((d) => d.detail).join("; ")) : null,
      alertActions(a));
  }));
}

// --- the refresh loop -----------------------------------------------------------------------

async function refresh() {
  if ($("token-dialog").open) return;
  const results = await Promise.allSettled([refreshAtRisk(), refreshAlerts()]);
  const errors = results.filter((r) => r.status === "rejected").map((r) => r.reason);
  const status = $("status");
  if (errors.some((e) => e instanceof AuthError)) {
    status.className = "status";
    status.textContent = "waiting for a token";
    return;
  }
  status.className = "status" + (errors.length ? " error" : "");
  status.textContent = errors.length ? errors.map((e) => e.message || e).join("; ")
    : `updated ${new Date().toLocaleTimeString()}, every ${REFRESH_MS / 1000} s`;
  document.body.setAttribute("data-refreshed", String(Date.now()));
}

refresh();
refreshPopulation();
setInterval(refresh, REFRESH_MS);
setInterval(refreshPopulation, POPULATION_MS);
