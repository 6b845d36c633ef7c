// The Monitor tab's Fleet view: every host of an expression (or @group),
// live, one cell each on a canvas, coloured by the chosen figure, sortable
// and filterable by name or threshold ("cpu > 90"), with the counts of
// up, stale and down hosts. The server (/ws/fleet) sends one frame a
// second with the figures of all the hosts. Clicking a cell opens the
// host's detail: its charts with the last 10 minutes (ECharts, as the
// local Monitor), and a button that takes it to the Exec tab. The hosts
// shown (or picked by hand with Ctrl/Shift-click) go to the Exec tab as
// one expression, folded by the server as Exec folds.

import * as echarts from "../vendor/echarts/echarts.esm.min.mjs";
import { Channel } from "./socket.js";
import { localTime, formatBytes } from "./monitor.js";

// Cell fields of a tick, in order (see docs/protocol.md).
const STATE = 0;
const FIGURES = { cpu: 1, mem: 2, load: 3, rx: 4, tx: 5, disk: 6 };
const STATES = ["up", "stale", "down", "unsupported", "pending"];
const THRESHOLD = /^\s*(cpu|mem|memory|load|rx|tx|net|disk)\s*(>=|<=|>|<)\s*([\d.]+)\s*%?\s*$/i;

export class Fleet {
  constructor(el, onState) {
    this.el = el;
    this.hosts = [];        // the watched hosts, in the server's order
    this.cells = [];        // the last tick's cells, by host index
    this.order = [];        // host indexes shown, in drawing order
    this.picked = new Set(); // host indexes picked by hand
    this.detail = null;     // {host, records}
    this.counts = [0, 0, 0];
    this.frames = [];       // draw times (ms) of the last frames, for the browser test
    this.gaps = [];         // times between animation frames while drawing
    this.expr = "";
    this.foldSeq = 0;
    this.folds = new Map();
    this.input = el.querySelector("#fleet-expr");
    this.figure = el.querySelector("#fleet-figure");
    this.sort = el.querySelector("#fleet-sort");
    this.filter = el.querySelector("#fleet-filter");
    this.canvas = el.querySelector("#fleet-grid");
    this.note = el.querySelector("#fleet-note");
    this.countsEl = el.querySelector("#fleet-counts");
    this.detailEl = el.querySelector("#fleet-detail");
    this.input.value = localStorage.getItem("wsdeck.fleet.expr") || "";
    this.channel = new Channel("/ws/fleet", {
      onMessage: (msg) => this.receive(msg),
      onOpen: () => { if (this.expr) this.channel.send({ type: "watch", expr: this.expr }); },
      onState,
    });
    el.querySelector("#fleet-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.watch(this.input.value.trim());
    });
    for (const c of [this.figure, this.sort, this.filter]) c.addEventListener("input", () => this.layout());
    this.canvas.addEventListener("click", (e) => this.click(e));
    this.canvas.addEventListener("mousemove", (e) => {
      const i = this.at(e);
      this.canvas.title = i < 0 ? "" : this.describe(i);
    });
    el.querySelector("#fleet-send").addEventListener("click", () => this.sendToExec(this.selected()));
    el.querySelector("#fleet-detail-exec").addEventListener("click", () => this.detail && this.sendToExec([this.detail.host]));
    window.addEventListener("resize", () => { this.layout(); this.charts && Object.values(this.charts).forEach((c) => c.resize()); });
  }

  show() { this.channel.start(); this.layout(); }
  hide() { this.channel.stop(); }

  watch(expr) {
    if (!expr) return;
    this.expr = expr;
    localStorage.setItem("wsdeck.fleet.expr", expr);
    this.note.textContent = "";
    if (this.channel.state === "open") this.channel.send({ type: "watch", expr });
    else this.channel.start();
  }

  receive(msg) {
    switch (msg.type) {
    case "hosts":
      this.hosts = msg.hosts;
      this.cells = msg.hosts.map(() => [4, -1, -1, -1, -1, -1, -1]);
      this.picked.clear();
      this.note.textContent = `${msg.hosts.length} hosts: ${msg.expr}`;
      this.closeDetail();
      this.layout();
      break;
    case "tick":
      if (msg.cells.length !== this.hosts.length) break;
      this.cells = msg.cells;
      this.counts = msg.counts;
      if (msg.detail && this.detail && msg.detail.host === this.detail.host) this.addRecord(msg.detail);
      this.layout();
      break;
    case "history":
      this.openDetail(msg.host, msg.records);
      break;
    case "folded": {
      const done = this.folds.get(msg.id);
      this.folds.delete(msg.id);
      done?.(msg.expr);
      break;
    }
    case "error":
      this.note.textContent = msg.error;
      break;
    }
  }

  // value returns host i's chosen figure, or -1 when not known.
  value(i) {
    const f = this.figure.value;
    const c = this.cells[i];
    if (f === "net") return c[4] < 0 ? -1 : c[4] + c[5];
    return c[FIGURES[f]];
  }

  // layout applies the filter and the sort, then draws.
  layout() {
    const text = this.filter.value.trim();
    const m = THRESHOLD.exec(text);
    let keep = () => true;
    if (m) {
      const key = { memory: "mem", net: "rx" }[m[1].toLowerCase()] || m[1].toLowerCase();
      const n = Number(m[3]);
      const cmp = { ">": (a) => a > n, "<": (a) => a >= 0 && a < n, ">=": (a) => a >= n, "<=": (a) => a >= 0 && a <= n }[m[2]];
      const get = m[1].toLowerCase() === "net" ? (c) => (c[4] < 0 ? -1 : c[4] + c[5]) : (c) => c[FIGURES[key]];
      keep = (i) => cmp(get(this.cells[i]));
    } else if (text) {
      const s = text.toLowerCase();
      keep = (i) => this.hosts[i].toLowerCase().includes(s);
    }
    const order = [];
    for (let i = 0; i < this.hosts.length; i++) if (keep(i)) order.push(i);
    if (this.sort.value === "value") order.sort((a, b) => this.value(b) - this.value(a) || a - b);
    if (this.sort.value === "state") order.sort((a, b) => this.cells[b][STATE] - this.cells[a][STATE] || a - b);
    this.order = order;
    const [up, stale, down] = this.counts;
    this.countsEl.textContent = `${up} up · ${stale} stale · ${down} down · ${order.length} shown` +
      (this.picked.size ? ` · ${this.picked.size} picked` : "");
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    const asked = performance.now();
    requestAnimationFrame((t) => {
      this.pending = false;
      if (this.lastFrame) this.gaps.push(t - this.lastFrame);
      this.lastFrame = t;
      const start = performance.now();
      this.draw();
      this.frames.push(performance.now() - start);
      if (this.frames.length > 600) this.frames.splice(0, 300);
      if (this.gaps.length > 600) this.gaps.splice(0, 300);
      this.waits = (this.waits || 0) + (start - asked);
    });
  }

  // geometry returns the cell size and columns for the hosts shown.
  geometry() {
    const width = Math.max(this.canvas.parentElement.clientWidth, 200);
    const n = Math.max(this.order.length, 1);
    let size = Math.floor(Math.sqrt((width * Math.max(240, Math.min(640, width * 0.6))) / n));
    size = Math.max(6, Math.min(40, size));
    const cols = Math.max(1, Math.floor(width / size));
    return { size, cols, width, height: Math.ceil(n / cols) * size };
  }

  draw() {
    const g = this.geometry();
    this.geo = g;
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(g.width * dpr) || this.canvas.height !== Math.round(g.height * dpr)) {
      this.canvas.width = Math.round(g.width * dpr);
      this.canvas.height = Math.round(g.height * dpr);
      this.canvas.style.height = `${g.height}px`;
    }
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, g.width, g.height);
    const gap = g.size >= 10 ? 1 : 0;
    const max = this.scaleMax();
    // Cells of one colour are drawn together: fewer fillStyle changes.
    const byColour = new Map();
    for (let k = 0; k < this.order.length; k++) {
      const i = this.order[k];
      const colour = this.colour(i, max);
      let list = byColour.get(colour);
      if (!list) byColour.set(colour, (list = []));
      list.push(k);
    }
    for (const [colour, list] of byColour) {
      ctx.fillStyle = colour;
      for (const k of list) ctx.fillRect((k % g.cols) * g.size, Math.floor(k / g.cols) * g.size, g.size - gap, g.size - gap);
    }
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#1c2333";
    for (let k = 0; k < this.order.length; k++) {
      const i = this.order[k];
      if (this.picked.has(i) || this.detail?.host === this.hosts[i]) {
        ctx.strokeRect((k % g.cols) * g.size + 1, Math.floor(k / g.cols) * g.size + 1, g.size - gap - 2, g.size - gap - 2);
      }
    }
  }

  // scaleMax is the value drawn in full red: 100 for percents, else the
  // largest shown (load, bytes a second).
  scaleMax() {
    const f = this.figure.value;
    if (f === "cpu" || f === "mem" || f === "disk") return 100;
    let m = f === "load" ? 1 : 1024;
    for (const i of this.order) m = Math.max(m, this.value(i));
    return m;
  }

  colour(i, max) {
    const st = this.cells[i][STATE];
    if (st === 1) return "#adb5bd";          // stale
    if (st === 2) return "#495057";          // down
    if (st === 3) return "#9c36b5";          // unsupported
    if (st === 4) return "#e9ecef";          // pending
    const v = this.value(i);
    if (v < 0) return "#dee2e6";
    // Green to yellow to red in 20 steps: few distinct colours to batch.
    const step = Math.round(Math.min(1, v / max) * 20) / 20;
    const hue = Math.round(130 * (1 - step));
    return `hsl(${hue} 70% 48%)`;
  }

  at(e) {
    if (!this.geo) return -1;
    const r = this.canvas.getBoundingClientRect();
    const col = Math.floor((e.clientX - r.left) / this.geo.size);
    const row = Math.floor((e.clientY - r.top) / this.geo.size);
    if (col < 0 || col >= this.geo.cols || row < 0) return -1;
    const k = row * this.geo.cols + col;
    return k < this.order.length ? this.order[k] : -1;
  }

  describe(i) {
    const c = this.cells[i];
    const f = (v, unit) => (v < 0 ? "–" : `${v}${unit}`);
    return `${this.hosts[i]}: ${STATES[c[STATE]]} · CPU ${f(c[1], " %")} · memory ${f(c[2], " %")} · load ${f(c[3], "")}` +
      ` · ↓ ${c[4] < 0 ? "–" : formatBytes(c[4]) + "/s"} ↑ ${c[5] < 0 ? "–" : formatBytes(c[5]) + "/s"} · disk ${f(c[6], " %")}`;
  }

  click(e) {
    const i = this.at(e);
    if (i < 0) return;
    if (e.ctrlKey || e.metaKey || e.shiftKey) {
      this.picked.has(i) ? this.picked.delete(i) : this.picked.add(i);
      this.layout();
      return;
    }
    this.openHost(this.hosts[i]);
  }

  // openHost asks for a host's history; its detail opens when it comes.
  openHost(host) { this.channel.send({ type: "detail", host }); }

  // selected returns the hosts picked by hand, else those shown.
  selected() {
    const idx = this.picked.size ? [...this.picked].sort((a, b) => a - b) : this.order;
    return idx.map((i) => this.hosts[i]);
  }

  // sendToExec puts hosts, folded by the server, in the Exec tab's hosts
  // and shows that tab.
  sendToExec(hosts) {
    if (!hosts.length) return;
    const id = String(++this.foldSeq);
    this.folds.set(id, (expr) => {
      const input = document.getElementById("exec-hosts");
      input.value = expr;
      input.dispatchEvent(new Event("input"));
      location.hash = "#exec";
      document.getElementById("exec-command")?.focus();
    });
    this.channel.send({ type: "fold", id, hosts });
  }

  openDetail(host, records) {
    this.detail = { host, records: records.slice() };
    this.detailEl.hidden = false;
    this.detailEl.querySelector("#fleet-detail-host").textContent = host;
    if (!this.charts) this.initCharts();
    for (const c of Object.values(this.charts)) c.resize();
    this.renderDetail();
    this.layout();
  }

  closeDetail() {
    this.detail = null;
    this.detailEl.hidden = true;
  }

  addRecord(rec) {
    const rs = this.detail.records;
    if (rs.length && rs[rs.length - 1].t >= rec.t) return;
    rs.push(rec);
    while (rs.length && rs[0].t < rec.t - 10 * 60 * 1000) rs.shift();
    this.renderDetail();
  }

  initCharts() {
    const common = {
      animation: false,
      grid: { left: 56, right: 16, top: 36, bottom: 28 },
      legend: { type: "scroll", top: 0 },
      xAxis: { type: "time", splitLine: { show: false }, axisLabel: { formatter: localTime, hideOverlap: true } },
    };
    const make = (id, option) => {
      const chart = echarts.init(this.detailEl.querySelector(id), null, { renderer: "canvas" });
      chart.setOption({ ...common, ...option });
      return chart;
    };
    const bytes = (v) => (v == null ? "–" : formatBytes(v));
    this.charts = {
      cpu: make("#fleet-chart-cpu", { tooltip: { trigger: "axis" }, yAxis: { type: "value", min: 0, max: 100 }, series: [] }),
      mem: make("#fleet-chart-mem", { tooltip: { trigger: "axis", valueFormatter: bytes }, yAxis: { type: "value", min: 0, axisLabel: { formatter: bytes } }, series: [] }),
      net: make("#fleet-chart-net", { tooltip: { trigger: "axis", valueFormatter: (v) => bytes(v) + "/s" }, yAxis: { type: "value", min: 0, axisLabel: { formatter: (v) => bytes(v) + "/s" } }, series: [] }),
      disk: make("#fleet-chart-disk", { tooltip: { trigger: "axis" }, yAxis: { type: "value", min: 0, max: 100 }, series: [] }),
    };
  }

  renderDetail() {
    const rs = this.detail.records.filter((r) => r.fig);
    const pts = (get) => rs.map((r) => [r.t, get(r.fig)]);
    const line = (name, data, extra = {}) => ({ name, type: "line", showSymbol: false, data, ...extra });
    const rate = (get) => (f) => (f.rates ? get(f) : null);
    const last = rs[rs.length - 1]?.fig;
    const cores = last?.cores?.length || 0;
    const coreSeries = [];
    for (let i = 0; i < cores; i++) coreSeries.push(line(`core ${i}`, pts(rate((f) => (f.cores?.[i] >= 0 ? f.cores[i] : null))), { lineStyle: { width: 1 } }));
    this.charts.cpu.setOption({ series: [line("total", pts(rate((f) => f.cpu)), { areaStyle: { opacity: 0.15 } }), ...coreSeries] }, { replaceMerge: ["series"] });
    this.charts.mem.setOption({ series: [line("used", pts((f) => f.mem_used), { areaStyle: { opacity: 0.15 } }), line("total", pts((f) => f.mem_total))] }, { replaceMerge: ["series"] });
    this.charts.net.setOption({ series: [line("receive", pts(rate((f) => f.rx))), line("send", pts(rate((f) => f.tx)))] }, { replaceMerge: ["series"] });
    this.charts.disk.setOption({ series: [line("used %", pts((f) => (f.has_disk && f.disk_total ? (100 * f.disk_used) / f.disk_total : null)))] }, { replaceMerge: ["series"] });
    const state = this.detail.records[this.detail.records.length - 1];
    this.detailEl.querySelector("#fleet-detail-state").textContent = state
      ? `${state.state}${state.err ? ": " + state.err : ""} · ${rs.length} samples`
      : "no samples yet";
  }

  // points returns how many CPU points the detail's chart holds.
  points() {
    if (!this.charts) return 0;
    return this.charts.cpu.getOption().series[0]?.data.filter((p) => p[1] != null).length || 0;
  }
}
