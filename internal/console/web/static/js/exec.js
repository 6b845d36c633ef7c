// The Exec tab: a host expression and a command, run by the server over
// SSH on every host (or on the server itself, for the host "local"). The
// expression is expanded by the server as it is typed, so the count and
// any host outside --allow-hosts show before anything runs. Every viewer
// sees the job it opens: each host's output lines in an xterm.js terminal,
// prefixed with the host in its color, a progress line, and a results
// table that can be filtered to failures. Several jobs may run at once,
// on any node of the console; the Jobs list (filtered by user, state and
// text) opens any job of the history, and a page that shows no running
// job opens one when it starts. The wire protocol is in docs/protocol.md
// (/ws/exec).

import { Terminal } from "../vendor/xterm/xterm.mjs";
import { FitAddon } from "../vendor/xterm/addon-fit.mjs";
import { Channel } from "./socket.js";

// ANSI colors for host prefixes, as wsdeck exec uses on a terminal.
const PALETTE = ["36", "32", "33", "35", "34", "96", "92", "93", "95", "94"];
const RESET = "\x1b[0m";
const COUNT_DELAY_MS = 200;
const LIST_DELAY_MS = 150;

// Escape sequences in output. The server filters every line before it
// sends it (internal/jobs, terminal.go); this is a second line of defence,
// for the job's command and hosts too. Colors (SGR) are kept, less the
// parameters that hide text (5 and 6 blink, 8 conceal); everything else
// that could move the cursor, erase, retitle or reach the clipboard is
// dropped, in its 7-bit form and as a C1 control (U+009B is CSI, U+009D is
// OSC: xterm.js obeys both), with every control character but tab.
const CONTROL = /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]?|[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;
const SGR = /^(?:\x1b\[|\x9b)([0-9;:]*)m$/;

export function sanitize(line) {
  return line.replace(CONTROL, (m) => {
    const sgr = SGR.exec(m);
    return sgr ? sgrKept(sgr[1]) : "";
  });
}

// sgrKept returns the SGR sequence with params less 5, 6 and 8; the
// arguments of an extended color (38;5;8) are not parameters of their own.
function sgrKept(params) {
  if (params === "") return "\x1b[m";
  const fields = params.split(";");
  const kept = [];
  for (let k = 0; k < fields.length; k++) {
    const [main, ...sub] = fields[k].split(":");
    const n = main === "" ? 0 : Number(main);
    if (n === 5 || n === 6 || n === 8) continue;
    let args = 0;
    if ((n === 38 || n === 48 || n === 58) && sub.length === 0 && k + 1 < fields.length) {
      const next = Number(fields[k + 1] || "0");
      args = Math.min(next === 5 ? 2 : next === 2 ? 4 : 0, fields.length - 1 - k);
    }
    kept.push(...fields.slice(k, k + 1 + args));
    k += args;
  }
  return kept.length ? `\x1b[${kept.join(";")}m` : "";
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function formatMs(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

export class Exec {
  constructor(el, onState) {
    this.el = el;
    this.form = el.querySelector("#exec-form");
    this.hostsInput = el.querySelector("#exec-hosts");
    this.commandInput = el.querySelector("#exec-command");
    this.countEl = el.querySelector("#exec-count");
    this.runBtn = el.querySelector("#exec-run");
    this.cancelBtn = el.querySelector("#exec-cancel");
    this.status = el.querySelector("#exec-status");
    this.progressEl = el.querySelector("#exec-progress");
    this.termEl = el.querySelector("#exec-term");
    this.table = el.querySelector("#exec-table");
    this.tbody = this.table.querySelector("tbody");
    this.failuresOnly = el.querySelector("#exec-failures");
    this.jobsBody = el.querySelector("#exec-jobs tbody");
    this.jobsUser = el.querySelector("#exec-jobs-user");
    this.jobsState = el.querySelector("#exec-jobs-state");
    this.jobsText = el.querySelector("#exec-jobs-text");
    // Who is signed in and the host groups they may use (from the hello):
    // a button per group inserts @NAME into the hosts.
    this.whoEl = document.createElement("div");
    this.whoEl.className = "hint exec-who";
    this.whoEl.id = "exec-who";
    this.countEl.after(this.whoEl);

    this.hello = null;        // what the server allows
    this.count = null;        // the last count reply for the current input
    this.countSeq = 0;
    this.countTimer = null;
    this.job = null;          // the record of the job shown: {id, hosts, command, folded, started, state, ...}
    this.opening = null;      // the id of the job asked for, until its record comes
    this.jobs = [];           // the Jobs list, newest first, as the server last sent it
    this.listSeq = 0;
    this.listTimer = null;
    this.results = [];        // per host: null, or the result
    this.running = new Set();
    this.summary = null;
    this.interrupted = false; // the connection ended before the job's summary came
    this.lines = 0;           // output lines written, for the curious and for tests
    this.termTitle = "";      // the terminal's title as output set it: for tests (the filters leave none)
    this.term = null;
    this.fit = null;

    this.hostsInput.value = localStorage.getItem("wsdeck.exec.hosts") || "";
    this.commandInput.value = localStorage.getItem("wsdeck.exec.command") || "";
    this.hostsInput.addEventListener("input", () => this.scheduleCount());
    this.whoEl.addEventListener("click", (ev) => {
      const g = ev.target.closest("button")?.dataset.group;
      if (g) this.insertGroup(g);
    });
    this.commandInput.addEventListener("input", () => this.updateButtons());
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.run(); });
    this.cancelBtn.addEventListener("click", () => this.cancel());
    for (const input of [this.jobsUser, this.jobsText]) input.addEventListener("input", () => this.scheduleList());
    this.jobsState.addEventListener("change", () => this.scheduleList(0));
    this.jobsBody.addEventListener("click", (ev) => {
      const tr = ev.target.closest("tr");
      if (tr?.dataset.id) this.open(tr.dataset.id);
    });
    this.failuresOnly.addEventListener("change", () => {
      this.table.classList.toggle("failures-only", this.failuresOnly.checked);
    });
    window.addEventListener("resize", () => this.fit?.fit());

    this.channel = new Channel("/ws/exec", {
      onMessage: (msg) => this.receive(msg),
      onOpen: () => this.scheduleCount(0),
      onState: (state, ch) => {
        onState(state, ch);
        this.updateButtons();
      },
    });
  }

  show() {
    this.ensureTerminal();
    this.channel.start();
    requestAnimationFrame(() => this.fit.fit());
  }

  hide() { this.channel.stop(); }

  ensureTerminal() {
    if (this.term) return;
    this.term = new Terminal({
      disableStdin: true, convertEol: false, scrollback: 20000, cursorBlink: false,
      fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace',
      fontSize: 13, theme: { background: "#10141c" },
    });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    this.term.onTitleChange((title) => { this.termTitle = title; });
    this.term.open(this.termEl);
    this.term.write("\x1b[?25l"); // no cursor: nobody types here
    this.fit.fit();
  }

  receive(msg) {
    switch (msg.type) {
      case "hello": {
        this.hello = msg;
        this.setStatus("");
        this.hostsInput.title = `allowed: ${msg.allow_hosts}`;
        this.showRole(msg);
        this.interrupt();
        // A new connection has nothing open: show the job shown before,
        // or the newest one.
        const shown = this.job?.id ?? msg.jobs?.[0]?.id;
        this.opening = null;
        if (shown) this.open(shown);
        this.scheduleList(0);
        break;
      }
      case "access":
        // The policy was reloaded: what this user may do now.
        if (!this.hello) break;
        for (const k of ["user", "method", "role", "may_run", "groups"]) this.hello[k] = msg[k];
        this.setStatus("");
        this.showRole(this.hello);
        this.scheduleCount(0);
        break;
      case "list":
        if (Number(msg.id) === this.listSeq) this.showJobs(msg.jobs);
        break;
      case "state":
        this.jobState(msg.job);
        break;
      case "count":
        if (Number(msg.id) === this.countSeq) this.showCount(msg);
        break;
      case "accepted":
        this.setStatus("");
        this.open(msg.job);
        break;
      case "job":
        if (msg.job.id !== this.opening) break; // one asked for before another
        this.opening = null;
        this.startJob(msg.job, msg.replay);
        break;
      case "events":
        if (this.job && msg.job === this.job.id) this.applyEvents(msg);
        break;
      case "error":
        this.showError(msg);
        break;
    }
  }

  showError(msg) {
    if (msg.code === "not_configured") {
      this.setStatus(`${msg.error}.`, "not_configured");
      this.form.hidden = true;
      this.channel.stop(); // nothing to wait for: close instead of reconnecting
      return;
    }
    this.setStatus(msg.error, "error");
    this.updateButtons();
  }

  // showRole hides the Run form from a user who may not run jobs (the
  // server refuses their run anyway) and offers an operator's or admin's
  // host groups.
  showRole(hello) {
    this.form.hidden = !hello.may_run;
    this.form.dataset.role = hello.role || "";
    const who = hello.user ? `${hello.user} (${hello.role})` : "";
    if (!hello.may_run) {
      this.whoEl.replaceChildren();
      this.setStatus(`Signed in as ${who || "a user without a role"}: you may watch jobs and their history; running them needs an operator or an admin.`, "viewer");
      return;
    }
    const groups = hello.groups || [];
    const parts = [];
    if (hello.method && hello.method !== "token") parts.push(`${who} · `);
    if (groups.length) {
      parts.push("host groups: ");
      for (const g of groups) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "chip";
        b.dataset.group = g;
        b.textContent = "@" + g;
        b.title = `add @${g} to the hosts`;
        parts.push(b, " ");
      }
    } else if (hello.role === "operator") {
      parts.push("no host groups: ask an admin for a binding in the policy");
    }
    this.whoEl.replaceChildren(...parts);
  }

  insertGroup(name) {
    const v = this.hostsInput.value.trim();
    const term = "@" + name;
    if (!v.split(/[\s,]+/).includes(term)) this.hostsInput.value = v ? `${v},${term}` : term;
    this.hostsInput.focus();
    this.scheduleCount(0);
  }

  setStatus(text, kind) {
    this.status.textContent = text;
    this.status.hidden = !text;
    this.status.dataset.state = kind || "";
    this.status.dataset.kind = kind === "error" ? "error" : "";
  }

  // Counting: the server expands the expression as it is typed.

  scheduleCount(delay = COUNT_DELAY_MS) {
    clearTimeout(this.countTimer);
    this.count = null;
    this.updateButtons();
    const hosts = this.hostsInput.value.trim();
    if (!hosts) {
      this.countEl.textContent = "";
      return;
    }
    this.countTimer = setTimeout(() => {
      this.countSeq++;
      this.channel.send({ type: "count", id: String(this.countSeq), hosts });
    }, delay);
  }

  showCount(msg) {
    this.count = msg;
    const el = this.countEl;
    if (msg.error) {
      el.textContent = msg.error;
      el.dataset.kind = "error";
    } else if (msg.denied && this.hello?.role === "operator" && this.hello?.method !== "token") {
      el.textContent = `${msg.count} hosts; outside your host groups (${(this.hello.groups || []).join(", ") || "none"}) or this console: ${msg.denied}`;
      el.dataset.kind = "error";
    } else if (msg.denied) {
      el.textContent = `${msg.count} hosts; not allowed on this console: ${msg.denied} (allowed: ${this.hello?.allow_hosts ?? "?"})`;
      el.dataset.kind = "error";
    } else {
      el.textContent = `${msg.count} ${msg.count === 1 ? "host" : "hosts"}: ${msg.folded}`;
      el.dataset.kind = "ok";
    }
    this.updateButtons();
  }

  jobRunning() { return this.job !== null && this.job.id !== null && !this.summary && !this.interrupted; }

  // open asks for job id: its record, its events so far, then live.
  open(id) {
    if (id === this.opening || (id === this.job?.id && !this.interrupted)) return;
    this.opening = id;
    this.channel.send({ type: "open", job: id });
    this.markSelected(id);
  }

  // The Jobs list: asked of the server with the filters, again when a job
  // starts or ends.

  scheduleList(delay = LIST_DELAY_MS) {
    clearTimeout(this.listTimer);
    this.listTimer = setTimeout(() => {
      this.listSeq++;
      this.channel.send({
        type: "list", id: String(this.listSeq), limit: 50,
        user: this.jobsUser.value.trim(), state: this.jobsState.value, text: this.jobsText.value.trim(),
      });
    }, delay);
  }

  // jobState takes a job's start or end, announced to every viewer: the
  // list follows it, and a page showing no running job opens a new one.
  jobState(rec) {
    if (this.job?.id === rec.id) Object.assign(this.job, { state: rec.state, node: rec.node });
    if (rec.state === "running" && !this.jobRunning() && !this.opening) this.open(rec.id);
    this.scheduleList();
  }

  showJobs(jobs) {
    this.jobs = jobs;
    const rows = document.createDocumentFragment();
    for (const j of jobs) {
      const tr = document.createElement("tr");
      tr.dataset.id = j.id;
      tr.dataset.state = j.state;
      const started = new Date(j.started);
      const cells = [
        ["started", started.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" })],
        ["command", j.command], ["hosts", `${j.total} · ${j.folded}`], ["state", j.state], ["user", j.user || j.client],
      ];
      for (const [cls, text] of cells) {
        const td = document.createElement("td");
        td.className = cls;
        td.textContent = td.title = text;
        tr.appendChild(td);
      }
      tr.title = `${j.id} on ${j.node}${j.summary ? ": " + j.summary : ""}`;
      rows.appendChild(tr);
    }
    this.jobsBody.replaceChildren(rows);
    this.markSelected(this.opening ?? this.job?.id);
  }

  markSelected(id) {
    for (const tr of this.jobsBody.rows) tr.setAttribute("aria-selected", String(tr.dataset.id === id));
  }

  updateButtons() {
    if (!this.channel) return;
    const jobRunning = this.jobRunning();
    const valid = this.count && !this.count.error && !this.count.denied &&
      this.count.hosts === this.hostsInput.value.trim();
    // Several jobs may run at once: the server enforces its caps.
    this.runBtn.disabled = !valid || !this.commandInput.value.trim() || this.channel.state !== "open";
    // An operator cancels only its own jobs (the server checks it).
    const own = this.hello?.role !== "operator" || (this.job?.user === this.hello.user && this.job?.method === this.hello.method);
    this.cancelBtn.disabled = !jobRunning || !own;
  }

  run() {
    if (this.runBtn.disabled) return;
    const hosts = this.hostsInput.value.trim();
    const command = this.commandInput.value.trim();
    localStorage.setItem("wsdeck.exec.hosts", hosts);
    localStorage.setItem("wsdeck.exec.command", command);
    this.channel.send({ type: "run", id: "run", hosts, command });
  }

  cancel() {
    if (this.jobRunning()) this.channel.send({ type: "cancel", id: "cancel", job: this.job.id });
  }

  // interrupt is called on every hello, which begins every connection:
  // the job the server has, if any, follows it as a replay, which shows it
  // afresh. A job shown as running until now is over as far as this page
  // can tell (the console restarted during it, or the connection dropped
  // before its summary came): it is shown as interrupted, its end unknown,
  // and Run is enabled again.
  interrupt() {
    if (!this.jobRunning()) return;
    this.interrupted = true;
    this.rows.forEach((tr, i) => {
      if (!this.results[i]) this.setRow(i, "unknown", "unknown");
    });
    this.running.clear();
    this.term.write(`\x1b[33m[the connection to the console ended before this job did: how it ended is unknown]${RESET}\r\n`);
    this.updateProgress();
    this.updateButtons();
  }

  // A job: the terminal, the table and the progress line follow its events.

  startJob(job, replay) {
    this.job = job;
    this.results = job.hosts.map(() => null);
    this.running = new Set();
    this.summary = null;
    this.endState = null;
    this.interrupted = false;
    this.lines = 0;
    this.startedAt = Date.parse(job.started);
    this.markSelected(job.id);
    this.ensureTerminal();
    this.term.reset();
    this.term.write("\x1b[?25l");
    this.term.write(`\x1b[1m$ ${sanitize(job.command)}\x1b[0m  \x1b[2mon ${sanitize(job.folded)}` +
      `${replay && job.state !== "running" ? `  (${sanitize(job.state)})` : ""}${RESET}\r\n`);
    this.prefixes = job.hosts.map((h, i) => `\x1b[${PALETTE[i % PALETTE.length]}m${sanitize(h)}:${RESET} `);
    const rows = document.createDocumentFragment();
    this.rows = job.hosts.map((h) => {
      const tr = document.createElement("tr");
      tr.dataset.state = "queued";
      for (const cls of ["host", "status", "num exit", "num duration", "num output"]) {
        const td = document.createElement("td");
        td.className = cls;
        tr.appendChild(td);
      }
      tr.cells[0].textContent = tr.cells[0].title = h;
      tr.cells[1].textContent = "queued";
      rows.appendChild(tr);
      return tr;
    });
    this.tbody.replaceChildren(rows);
    this.updateProgress();
    this.updateButtons();
  }

  applyEvents(msg) {
    let out = "";
    if (msg.skipped) out += `\x1b[2m… ${msg.skipped} earlier lines not shown${RESET}\r\n`;
    for (const e of msg.events) {
      switch (e.e) {
        case "started":
          this.running.add(e.i);
          this.setRow(e.i, "running", "running");
          break;
        case "out": {
          const prefix = this.prefixes[e.i];
          const err = e.s === "stderr";
          for (const line of e.lines) {
            out += prefix + (err ? "\x1b[31m" : "") + sanitize(line) + RESET + "\r\n";
          }
          this.lines += e.lines.length;
          break;
        }
        case "capped":
          out += `${this.prefixes[e.i]}\x1b[33m[${e.s} over ${formatBytes(this.hello?.max_output ?? 0)}: the rest is counted, not shown]${RESET}\r\n`;
          break;
        case "finished":
          this.running.delete(e.i);
          this.results[e.i] = e.result;
          this.finishRow(e.i, e.result);
          if (e.result.status !== "ok") {
            out += `${this.prefixes[e.i]}\x1b[1;31m✗ ${sanitize(e.result.error || e.result.status)}${RESET}\r\n`;
          }
          break;
        case "warning":
          out += `\x1b[33mwarning: ${sanitize(e.message)}${RESET}\r\n`;
          break;
        case "muted":
          out += `\x1b[33m[output over ${formatBytes(e.limit)}: no more lines shown; results still follow]${RESET}\r\n`;
          break;
        case "summary":
          this.summary = e.summary;
          this.endState = e.state || (e.summary.canceled ? "cancelled" : e.summary.failed ? "failed" : "done");
          out += `\x1b[1m${e.summary.failed ? "\x1b[31m" : "\x1b[32m"}${sanitize(e.text)}${RESET}\r\n`;
          break;
      }
    }
    if (out) this.term.write(out);
    this.updateProgress();
    if (this.summary) this.updateButtons();
  }

  setRow(i, state, text) {
    const tr = this.rows[i];
    tr.dataset.state = state;
    tr.cells[1].textContent = tr.cells[1].title = text;
  }

  finishRow(i, r) {
    const tr = this.rows[i];
    tr.dataset.state = r.status === "ok" ? "ok" : "failed";
    // The exit code has its own column; other failures say why.
    const why = r.status === "exit" ? "" : r.error;
    // Cells cut what does not fit their column: the title has it all.
    tr.cells[1].textContent = tr.cells[1].title = why ? `${r.status}: ${why}` : r.status;
    tr.cells[2].textContent = r.exit_code >= 0 ? String(r.exit_code) : "–";
    tr.cells[3].textContent = formatMs(r.duration_ms);
    const total = r.stdout_bytes + r.stderr_bytes;
    tr.cells[4].textContent = tr.cells[4].title = formatBytes(total) + (r.dropped_bytes ? ` (${formatBytes(r.dropped_bytes)} dropped)` : "");
  }

  updateProgress() {
    if (!this.job) {
      this.progressEl.textContent = "";
      return;
    }
    const total = this.job.hosts.length;
    let done = 0;
    let failed = 0;
    for (const r of this.results) {
      if (!r) continue;
      done++;
      if (r.status !== "ok") failed++;
    }
    const s = this.summary;
    const elapsed = s ? s.elapsed_ns / 1e6 : Date.now() - this.startedAt;
    const state = s ? (this.endState === "interrupted" ? "interrupted" : s.canceled ? "canceled" : "finished") :
      this.interrupted ? "interrupted" : "running";
    this.progressEl.replaceChildren();
    const parts = [
      `${state}: done ${done}/${total}`,
      ...(state === "running" ? [`running ${this.running.size}`] : []),
    ];
    this.progressEl.append(parts.join(" · "), " · ");
    const f = document.createElement("span");
    f.textContent = `failed ${failed}`;
    if (failed) f.className = "failed";
    this.progressEl.append(f, ` · ${formatMs(elapsed)}`);
    this.progressEl.dataset.state = state;
  }

  // termText returns the terminal's text, for tests.
  termText() {
    const buf = this.term.buffer.active;
    const lines = [];
    for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i).translateToString(true));
    return lines.join("\n");
  }
}
