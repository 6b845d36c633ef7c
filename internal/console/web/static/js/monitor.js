// The Monitor tab: live ECharts line charts of one node's CPU (total, and
// per core on demand), memory and network, filled at once from the
// server's backfill, then one point per sample. A select lists the
// console's nodes; the node serving the page is shown first, and picking
// another reconnects with ?node=NAME. The socket is open only while the
// tab is shown: a node samples only while someone watches it. The Fleet
// view (fleet.js) shows other hosts instead, over SSH.

import * as echarts from "../vendor/echarts/echarts.esm.min.mjs";
import { Channel } from "./socket.js";
import { Fleet } from "./fleet.js";

const GiB = 1024 ** 3;

export class Monitor {
  constructor(el, onState) {
    this.el = el;
    this.samples = [];        // oldest first
    this.historyMs = 10 * 60 * 1000;
    this.backfilled = -1;     // samples in the last backfill; -1 before one came
    this.node = "";           // the node shown ("" until the first backfill: the serving node)
    this.self = "";           // the node serving the page
    this.nodes = [];          // the console's nodes, by name
    this.error = null;        // the last error message, if any
    this.perCore = el.querySelector("#per-core");
    this.nodeSelect = el.querySelector("#monitor-node");
    this.note = el.querySelector("#monitor-note");
    this.charts = null;
    this.localChannel = new Channel("/ws/monitor", {
      params: () => ({ node: this.node }),
      onMessage: (msg) => this.receive(msg),
      onState,
    });
    this.fleet = new Fleet(el.querySelector("#fleet"), onState);
    this.view = "local";
    for (const v of ["local", "fleet"]) el.querySelector(`#monitor-view-${v}`).addEventListener("click", () => this.setView(v));
    this.perCore.addEventListener("change", () => this.showCores(this.perCore.checked));
    this.nodeSelect.addEventListener("change", () => this.watch(this.nodeSelect.value));
    window.addEventListener("resize", () => this.resize());
  }

  show() {
    this.shown = true;
    if (this.view === "fleet") {
      this.fleet.show();
      return;
    }
    if (!this.charts) this.initCharts();
    this.resize();
    this.localChannel.start();
  }

  // channel is the socket of the view shown: the header's indicator
  // follows it.
  get channel() { return this.view === "fleet" ? this.fleet.channel : this.localChannel; }

  hide() {
    this.shown = false;
    this.localChannel.stop();
    this.fleet.hide();
  }

  // setView shows this console's node ("local") or the Fleet view.
  setView(view) {
    this.view = view;
    for (const child of this.el.children) {
      if (child.classList.contains("monitor-views")) continue;
      child.hidden = (child.id === "fleet") !== (view === "fleet");
    }
    for (const v of ["local", "fleet"]) this.el.querySelector(`#monitor-view-${v}`).setAttribute("aria-pressed", String(v === view));
    if (this.shown) {
      this.hide();
      this.show();
    }
  }

  // watch shows node: the charts start again from its backfill.
  watch(node) {
    if (node === this.node) return;
    this.node = node;
    this.samples = [];
    this.backfilled = -1;
    this.render();
    if (this.localChannel.wanted) {
      this.localChannel.stop();
      this.localChannel.start();
    }
  }

  // setNodes fills the select with the nodes (and the one shown, listed
  // or not).
  setNodes(nodes) {
    this.nodes = nodes.map((n) => n.name);
    const names = this.nodes.includes(this.node) || !this.node ? this.nodes : [...this.nodes, this.node];
    this.nodeSelect.replaceChildren(...names.map((name) => {
      const o = document.createElement("option");
      o.value = name;
      o.textContent = name === this.self ? `${name} (this node)` : name;
      return o;
    }));
    this.nodeSelect.value = this.node;
  }

  initCharts() {
    const common = () => ({
      animation: false,
      grid: { left: 56, right: 16, top: 36, bottom: 28 },
      tooltip: { trigger: "axis", valueFormatter: undefined },
      legend: { type: "scroll", top: 0 },
      // The time axis shows the viewer's local time.
      xAxis: { type: "time", splitLine: { show: false }, axisLabel: { formatter: localTime, hideOverlap: true } },
    });
    const line = (name, extra = {}) => ({
      name, type: "line", showSymbol: false, connectNulls: false, data: [], ...extra,
    });
    const make = (id, option) => {
      const chart = echarts.init(this.el.querySelector(id), null, { renderer: "canvas" });
      chart.setOption(option);
      return chart;
    };
    const pct = (v) => v == null ? "–" : `${v.toFixed(1)} %`;
    const cpu = make("#chart-cpu", {
      ...common(),
      tooltip: { trigger: "axis", valueFormatter: pct },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value} %" } },
      series: [line("total", { areaStyle: { opacity: 0.15 }, lineStyle: { width: 2 } })],
    });
    const mem = make("#chart-mem", {
      ...common(),
      tooltip: { trigger: "axis", valueFormatter: (v) => v == null ? "–" : formatBytes(v) },
      yAxis: { type: "value", min: 0, axisLabel: { formatter: (v) => `${(v / GiB).toFixed(1)} GiB` } },
      series: [line("used", { areaStyle: { opacity: 0.15 } }), line("available")],
    });
    const net = make("#chart-net", {
      ...common(),
      tooltip: { trigger: "axis", valueFormatter: (v) => v == null ? "–" : formatBytes(v) + "/s" },
      yAxis: { type: "value", min: 0, minInterval: 1, axisLabel: { formatter: (v) => formatBytes(v) + "/s" } },
      series: [line("receive"), line("send")],
    });
    this.charts = { cpu, mem, net };
    this.cores = 0;
  }

  resize() {
    if (!this.charts || this.el.hidden) return;
    for (const c of Object.values(this.charts)) c.resize();
  }

  receive(msg) {
    switch (msg.type) {
    case "backfill":
      this.historyMs = msg.history_ms || this.historyMs;
      this.node = msg.node;
      this.self = msg.self;
      this.setNodes(msg.nodes);
      this.samples = msg.samples.slice();
      this.backfilled = msg.samples.length;
      this.error = null;
      this.note.textContent = "";
      this.render();
      break;
    case "nodes":
      this.setNodes(msg.nodes);
      break;
    case "sample": {
      this.samples.push(msg.sample);
      const oldest = msg.sample.t - this.historyMs;
      while (this.samples.length && this.samples[0].t < oldest) this.samples.shift();
      this.render();
      break;
    }
    case "error":
      // A node name refused (the server shows its own node), or the
      // storage unavailable (the samples stop until it is back).
      this.error = msg;
      this.note.textContent = msg.error;
      console.warn("wsdeck monitor:", msg.error);
      break;
    }
  }

  // series builds one chart series from the samples: [time, value] points,
  // with a break (null) before a sample that follows a pause.
  series(get) {
    const out = [];
    for (const s of this.samples) {
      if (s.gap && out.length) out.push([s.t - 1, null]);
      out.push([s.t, get(s)]);
    }
    return out;
  }

  render() {
    if (!this.charts) return;
    const n = this.samples.length ? this.samples[this.samples.length - 1].cores.length : this.cores;
    if (n !== this.cores) this.setCores(n);
    const coreSeries = [];
    for (let i = 0; i < this.cores; i++) coreSeries.push({ data: this.series((s) => s.cores[i] ?? null) });
    this.charts.cpu.setOption({ series: [{ data: this.series((s) => s.cpu) }, ...coreSeries] });
    this.charts.mem.setOption({ series: [
      { data: this.series((s) => s.mem_used) },
      { data: this.series((s) => s.mem_available) },
    ] });
    this.charts.net.setOption({ series: [
      { data: this.series((s) => s.net_rx) },
      { data: this.series((s) => s.net_tx) },
    ] });
    this.stats();
  }

  // setCores makes one CPU series per core, hidden until "per core" is
  // ticked or its legend entry is clicked.
  setCores(n) {
    this.cores = n;
    const series = [{ name: "total", type: "line", showSymbol: false, areaStyle: { opacity: 0.15 }, lineStyle: { width: 2 }, data: [] }];
    const selected = { total: true };
    for (let i = 0; i < n; i++) {
      series.push({ name: `core ${i}`, type: "line", showSymbol: false, lineStyle: { width: 1 }, data: [] });
      selected[`core ${i}`] = this.perCore.checked;
    }
    this.charts.cpu.setOption({ series, legend: { selected } }, { replaceMerge: ["series"] });
  }

  showCores(on) {
    const selected = {};
    for (let i = 0; i < this.cores; i++) selected[`core ${i}`] = on;
    this.charts?.cpu.setOption({ legend: { selected } });
  }

  stats() {
    const s = this.samples[this.samples.length - 1];
    const set = (id, text) => { this.el.querySelector(id).textContent = text; };
    if (!s) {
      for (const id of ["#stat-cpu", "#stat-mem", "#stat-load", "#stat-net", "#stat-disk"]) set(id, "–");
      return;
    }
    set("#stat-cpu", `${s.cpu.toFixed(1)} % · ${s.cores.length} cores`);
    set("#stat-mem", `${formatBytes(s.mem_used)} / ${formatBytes(s.mem_total)}`);
    set("#stat-load", s.load.map((v) => v.toFixed(2)).join("  "));
    set("#stat-net", `↓ ${formatBytes(s.net_rx)}/s  ↑ ${formatBytes(s.net_tx)}/s`);
    set("#stat-disk", s.disk_total ? `${formatBytes(s.disk_used)} / ${formatBytes(s.disk_total)} (${(100 * s.disk_used / s.disk_total).toFixed(0)} %)` : "–");
  }

  // points returns how many points the CPU chart's total series holds, as
  // the chart itself reports it.
  points() {
    if (!this.charts) return 0;
    return this.charts.cpu.getOption().series[0].data.filter((p) => p[1] != null).length;
  }
}

// localTime formats a time (Unix milliseconds) as the viewer's local
// HH:MM:SS.
export function localTime(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

export function formatBytes(v) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
