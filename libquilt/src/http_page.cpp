// The page at GET / (SPEC §15): everything inline, nothing loaded from
// elsewhere. Its script fetches /status, /peers, /routes, /topology and
// /metrics every two seconds and draws the mesh as SVG: this node in the
// middle of a circle of the nodes it can reach, links as lines, its
// neighbours coloured by their state, peers it cannot reach (down,
// connecting) outside the circle with dashed links.
#include "quilt/http.hpp"

namespace quilt {

namespace {

const char* const page = R"PAGE(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Quilt node</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1em 2em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em 0; }
#summary { color: #555; margin-bottom: .6em; }
#error { color: #b00; font-weight: bold; min-height: 1.2em; }
#layout { display: flex; flex-wrap: wrap; gap: 2em; align-items: flex-start; }
svg { border: 1px solid #ddd; background: #fcfcfc; }
table { border-collapse: collapse; margin-bottom: 1.2em; }
th, td { text-align: left; padding: 2px 10px 2px 0; }
th { border-bottom: 1px solid #999; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.up { color: #1a7f37; } .down { color: #c62828; } .connecting { color: #9a6700; }
.legend span { margin-right: 1em; }
h2 { font-size: 1.05em; margin: .4em 0; }
</style>
</head>
<body>
<h1 id="title">Quilt node</h1>
<div id="summary">loading…</div>
<div id="error"></div>
<div id="layout">
<div>
<svg id="mesh" width="560" height="560" viewBox="0 0 560 560"
     role="img" aria-label="the node's view of the mesh"></svg>
<div class="legend"><span style="color:#1565c0">● this node</span><span class="up">● neighbour up</span><span class="down">● neighbour down</span><span class="connecting">● connecting</span><span style="color:#78909c">● reachable</span></div>
</div>
<div>
<h2>Peers</h2><table id="peers"></table>
<h2>Routes</h2><table id="routes"></table>
<h2>Counters</h2><table id="counters"></table>
</div>
</div>
<script>
"use strict";
const NS = "http://www.w3.org/2000/svg";
const COLORS = {self: "#1565c0", up: "#1a7f37", down: "#c62828",
                connecting: "#9a6700", reachable: "#78909c"};

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

async function get(path, asText) {
  const r = await fetch(path, {cache: "no-store"});
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()).trim());
  return asText ? r.text() : r.json();
}

function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    const m = /^quilt_([a-z_]+)\{[^}]*\} (\S+)$/.exec(line);
    if (m) out.push([m[1], m[2]]);
  }
  return out;
}

function fillTable(id, head, rows) {
  const t = document.getElementById(id);
  t.textContent = "";
  const tr = t.insertRow();
  for (const h of head) { const th = document.createElement("th"); th.textContent = h; tr.appendChild(th); }
  for (const row of rows) {
    const r = t.insertRow();
    row.forEach((cell, i) => {
      const td = r.insertCell();
      const v = cell && typeof cell === "object" ? cell : {text: cell};
      td.textContent = v.text === null || v.text === undefined ? "–" : v.text;
      if (v.cls) td.className = v.cls;
    });
  }
}

function draw(status, peers, routes, topo) {
  const svg = document.getElementById("mesh");
  svg.textContent = "";
  const W = 560, cx = W / 2, cy = W / 2;
  const me = status.name;
  const state = {};
  for (const p of peers) if (p.name) state[p.name] = p.state;
  // Rings by distance: neighbours on the first, nodes two hops away on the
  // second (next to the neighbour they are reached through), and so on.
  const hops = {}, via = {};
  for (const r of routes) { hops[r.destination] = r.hops; via[r.destination] = r.next_hop; }
  const others = topo.nodes.filter(n => n !== me);
  const far = Math.max(0, ...Object.values(hops)) + 1;
  for (const n of others) if (!(n in hops)) hops[n] = far;
  const rings = Math.max(1, ...others.map(n => hops[n]));
  const step = Math.min(110, 215 / rings);
  const pos = {}, angle = {};
  pos[me] = [cx, cy];
  // Neighbours share the first ring out evenly; a node further out sits in
  // the wedge of the neighbour it is reached through, so a branch of the
  // mesh stays in one direction.
  const first = others.filter(n => hops[n] === 1).sort();
  const wedge = 2 * Math.PI / Math.max(1, first.length);
  first.forEach((n, i) => { angle[n] = -Math.PI / 2 + wedge * i; });
  const place = (n, a, k) => {
    angle[n] = angle[n] === undefined ? a : angle[n];
    pos[n] = [cx + k * step * Math.cos(a), cy + k * step * Math.sin(a)];
  };
  first.forEach(n => place(n, angle[n], 1));
  for (let k = 2; k <= rings; k++) {
    const groups = {};
    for (const n of others.filter(n => hops[n] === k).sort()) {
      const g = via[n] in angle ? via[n] : "";
      (groups[g] = groups[g] || []).push(n);
    }
    for (const g in groups) {
      const members = groups[g];
      const base = g === "" ? Math.PI / 2 : angle[g];
      const width = g === "" ? 2 * Math.PI : wedge;
      members.forEach((n, j) =>
        place(n, base + width * ((j + 0.5) / members.length - 0.5), k));
    }
  }
  const R = rings * step;
  // Peers it cannot reach now: outside the rings, on dashed links.
  const lost = peers.filter(p => p.state !== "up" && !(p.name && pos[p.name]));
  lost.forEach((p, i) => {
    const a = Math.PI / 4 + 2 * Math.PI * i / Math.max(1, lost.length);
    p.label = p.name || (p.address + ":" + (p.port === null ? "?" : p.port));
    pos["peer:" + p.label] = [cx + (R + 45) * Math.cos(a), cy + (R + 45) * Math.sin(a)];
  });
  const links = el("g", {"class": "links"});
  for (const [a, b] of topo.links) {
    if (!pos[a] || !pos[b]) continue;
    const mine = a === me || b === me;
    const [x1, y1] = pos[a], [x2, y2] = pos[b];
    // Links further out bow to one side: one that joins two branches
    // would otherwise run straight over the nodes between them.
    const bend = mine ? 0 : 0.25;
    const qx = (x1 + x2) / 2 - (y2 - y1) * bend, qy = (y1 + y2) / 2 + (x2 - x1) * bend;
    links.appendChild(el("path", {d: `M${x1} ${y1} Q${qx} ${qy} ${x2} ${y2}`, fill: "none",
      stroke: mine ? "#555" : "#aaa", "stroke-width": mine ? 2 : 1.2}));
  }
  for (const p of lost) {
    const q = pos["peer:" + p.label];
    links.appendChild(el("line", {x1: cx, y1: cy, x2: q[0], y2: q[1],
      stroke: COLORS[p.state] || COLORS.down, "stroke-width": 1.5, "stroke-dasharray": "5 4"}));
  }
  svg.appendChild(links);
  const small = others.length > 40;
  const node = (name, label, color, title) => {
    const [x, y] = pos[name];
    const g = el("g", {"class": "node", "data-name": label});
    g.appendChild(el("title", {}, title));
    const r = name === me ? 16 : (small ? 6 : 11);
    g.appendChild(el("circle", {cx: x, cy: y, r: r,
      fill: color, stroke: "#fff", "stroke-width": 2}));
    g.appendChild(el("text", {x: x, y: y - r - 5, "text-anchor": "middle",
      "font-size": small ? 9 : 12, stroke: "#fcfcfc", "stroke-width": 3,
      "paint-order": "stroke"}, label));
    svg.appendChild(g);
  };
  for (const n of others) {
    const s = state[n];
    node(n, n, s ? COLORS[s] || COLORS.reachable : COLORS.reachable,
         n + (s ? " (neighbour, " + s + ")" : " (reachable)"));
  }
  for (const p of lost)
    node("peer:" + p.label, p.label, COLORS[p.state] || COLORS.down,
         p.label + " (" + p.state + ")");
  node(me, me, COLORS.self, me + " (this node)");
}

async function refresh() {
  try {
    const [status, peers, routes, topo, metrics] = await Promise.all([
      get("/status"), get("/peers"), get("/routes"), get("/topology"),
      get("/metrics", true)]);
    document.title = "Quilt: " + status.name;
    document.getElementById("title").textContent = "Quilt node " + status.name;
    document.getElementById("summary").textContent =
      status.listen + " · " + status.peers_up + " peers up · " + status.routes +
      " routes · " + topo.nodes.length + " nodes, " + topo.links.length +
      " links in view · up " + Math.floor(status.uptime_ms / 1000) + " s · version " +
      status.version + " · updated " + new Date().toLocaleTimeString();
    document.getElementById("error").textContent = "";
    draw(status, peers, routes, topo);
    fillTable("peers", ["name", "address", "port", "state", "rtt", "last seen"],
      peers.map(p => [p.name, p.address, p.port, {text: p.state, cls: p.state},
        p.rtt_us === null ? null : (p.rtt_us / 1000).toFixed(3) + " ms",
        p.last_seen_ms === null ? "never" : p.last_seen_ms + " ms ago"]));
    fillTable("routes", ["destination", "next hop", "hops"],
      routes.map(r => [r.destination, r.next_hop, {text: r.hops, cls: "n"}]));
    fillTable("counters", ["counter", "value"],
      parseMetrics(metrics).map(([k, v]) => [k, {text: v, cls: "n"}]));
  } catch (e) {
    document.getElementById("error").textContent =
      "not current: " + e.message + " (retrying)";
  }
  setTimeout(refresh, 2000);
}
refresh();
</script>
</body>
</html>
)PAGE";

} // namespace

const std::string& mesh_page() {
  static const std::string text = page;
  return text;
}

} // namespace quilt
