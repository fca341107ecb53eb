// The luapiped dashboard: the plugins' health, a graph per circular-buffer output, text
// outputs as text, terminations. It draws from plain GETs, then follows /api/stream
// (without EventSource it polls every 2 s); /?nostream=1 draws once.
"use strict";
const graphs = {};
const shown = {};
const nostream = new URLSearchParams(location.search).has("nostream");

async function getJSON(path) { const r = await fetch(path); return r.json(); }

function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }

function renderHealth(h) {
  const status = document.getElementById("status");
  status.textContent = h.status + " · up " + Math.round(h.uptime_s) + " s";
  status.className = h.status;
  const body = document.querySelector("#health tbody");
  body.textContent = "";
  for (const [name, p] of Object.entries(h.plugins)) {
    const tr = document.createElement("tr");
    if (p.state !== "running") tr.className = "bad";
    cell(tr, name); cell(tr, p.type); cell(tr, p.state);
    cell(tr, p.counters.processed ?? ""); cell(tr, p.last_error ?? "");
    body.appendChild(tr);
  }
  const problems = document.getElementById("problems");
  problems.textContent = "";
  for (const text of h.problems) { const li = document.createElement("li"); li.textContent = text; problems.appendChild(li); }
}

// Heka's cbuf text: a JSON header line, then one tab-separated row per line, oldest first.
function parseCbuf(text) {
  const lines = text.split("\n");
  const header = JSON.parse(lines[0]);
  const rows = [];
  for (let i = 1; i < lines.length && rows.length < header.rows; i++) {
    if (lines[i] === "") continue;
    const values = lines[i].split("\t").map(v => (v === "nan" || v === "-nan" ? NaN : Number(v)));
    rows.push([new Date((header.time + rows.length * header.seconds_per_row) * 1000), ...values]);
  }
  return { header, rows };
}

function box(o) {
  let div = shown[o.id];
  if (!div) {
    div = document.createElement("div");
    div.className = "output";
    div.id = "output-" + o.id;
    const h3 = document.createElement("h3");
    h3.textContent = o.plugin + ": " + o.name + " (" + o.type + ")";
    div.appendChild(h3);
    document.getElementById("outputs").appendChild(div);
    shown[o.id] = div;
  }
  return div;
}

async function renderOutput(o) {
  const text = await (await fetch("/api/outputs/" + encodeURIComponent(o.id))).text();
  const div = box(o);
  if (o.type === "cbuf") {
    const { header, rows } = parseCbuf(text);
    const labels = ["time", ...header.column_info.map(c => c.name + (c.unit ? " (" + c.unit + ")" : ""))];
    let g = graphs[o.id];
    if (!g) {
      const gd = document.createElement("div");
      gd.className = "graph";
      div.appendChild(gd);
      g = new Dygraph(gd, rows, { labels, title: o.name, connectSeparatedPoints: true, legend: "always",
                                  underlayCallback: (ctx, area, graph) => shadeAlerts(ctx, area, graph, graph.alerts || [], header.seconds_per_row) });
      graphs[o.id] = g;
    } else {
      g.updateOptions({ file: rows, labels });
    }
    // Rows with an alert annotation ("A") are shaded.
    g.alerts = (header.annotations || []).filter(a => a.shortText === "A").map(a => a.x);
    if (g.alerts.length) g.updateOptions({});  // redraw with the shading
    if (header.annotations) {
      g.ready(() => g.setAnnotations(header.annotations.map(a => ({ series: labels[a.col + 1], x: a.x, shortText: a.shortText, text: a.text }))));
    }
    // What the graph shows, summed: tests (and curious users) read it from the DOM.
    div.dataset.sum = String(rows.reduce((t, r) => t + r.slice(1).reduce((u, v) => u + (Number.isNaN(v) ? 0 : v), 0), 0));
  } else {
    let pre = div.querySelector("pre");
    if (!pre) { pre = document.createElement("pre"); div.appendChild(pre); }
    pre.textContent = text;
  }
}

function shadeAlerts(ctx, area, graph, alerts, secondsPerRow) {
  ctx.save();
  ctx.fillStyle = "rgba(220, 0, 40, 0.18)";
  for (const x of alerts) {
    const left = graph.toDomXCoord(x), right = graph.toDomXCoord(x + secondsPerRow * 1000);
    ctx.fillRect(left, area.y, Math.max(2, right - left), area.h);
  }
  ctx.restore();
}

async function renderOutputs() {
  for (const o of await getJSON("/api/outputs")) {
    if (o.id === "luapiped.all-report.json") continue;
    await renderOutput(o);
  }
}

async function renderTerminations() {
  const ul = document.getElementById("terminations");
  ul.textContent = "";
  for (const t of (await getJSON("/api/terminations")).reverse()) {
    const li = document.createElement("li");
    li.textContent = new Date(t.time_ns / 1e6).toISOString() + " " + t.plugin + ": " + t.reason;
    ul.appendChild(li);
  }
}

async function refresh() {
  renderHealth(await getJSON("/health").catch(() => ({ status: "unreachable", uptime_s: 0, plugins: {}, problems: [] })));
  await renderOutputs();
  await renderTerminations();
}

refresh().then(() => {
  if (nostream) return;
  if (window.EventSource) {
    const es = new EventSource("/api/stream");
    es.addEventListener("health", e => renderHealth(JSON.parse(e.data)));
    es.addEventListener("output", e => renderOutput(JSON.parse(e.data)));
    es.addEventListener("terminated", () => renderTerminations());
  } else {
    setInterval(refresh, 2000);
  }
});
