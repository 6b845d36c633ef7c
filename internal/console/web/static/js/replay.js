// The Recordings tab: the recorded terminal sessions (asciicast v2, kept
// in the engine), listed by user, host and time, and a player that replays
// one in xterm.js at 1x, 2x or 8x, with a slider to seek and a field to
// jump to a time. The server decides what a user may list and open
// (operators their own sessions, admins all); the page only asks.

import { Terminal } from "../vendor/xterm/xterm.mjs";

const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });

// clock formats seconds as m:ss.s
function clock(s) {
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
}

// parseTime reads "90", "1:30" or "1:30.5" as seconds; NaN if neither.
export function parseTime(text) {
  const parts = text.trim().split(":");
  if (parts.length > 2 || parts.some((p) => p === "" || !/^\d+(\.\d+)?$/.test(p))) return NaN;
  return parts.length === 2 ? Number(parts[0]) * 60 + Number(parts[1]) : Number(parts[0]);
}

// parseCast splits an asciicast v2 file into its header and its events
// ([seconds, kind, data]), skipping lines it cannot read.
export function parseCast(text) {
  const lines = text.split("\n");
  const header = JSON.parse(lines[0]);
  if (header.version !== 2) throw new Error(`not an asciicast v2 file (version ${header.version})`);
  const events = [];
  for (const line of lines.slice(1)) {
    if (!line) continue;
    try {
      const ev = JSON.parse(line);
      if (Array.isArray(ev) && ev.length === 3) events.push(ev);
    } catch { /* a line cut short: skip it */ }
  }
  return { header, events };
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

// Player replays one recording in a terminal of its own.
export class Player {
  constructor(el) {
    this.el = el;
    this.termEl = el.querySelector(".replay-term");
    this.playBtn = el.querySelector(".replay-play");
    this.speedSel = el.querySelector(".replay-speed");
    this.seekInput = el.querySelector(".replay-seek");
    this.timeLabel = el.querySelector(".replay-time");
    this.jumpForm = el.querySelector(".replay-jump");
    this.term = null;
    this.cast = null;
    this.pos = 0; // seconds of the recording shown
    this.next = 0; // index of the first event not yet written
    this.playing = false;
    this.timer = null;
    this.pending = 0; // writes the terminal has not yet parsed
    this.needReset = false;
    this.playBtn.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    this.speedSel.addEventListener("change", () => { if (this.playing) this.play(); });
    this.seekInput.addEventListener("input", () => this.seek(Number(this.seekInput.value)));
    this.jumpForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const t = parseTime(this.jumpForm.elements.at.value);
      if (!Number.isNaN(t)) this.seek(t);
    });
  }

  // settled says whether the terminal shows the screen at pos: every
  // event up to it written and parsed (xterm.js parses writes later).
  get settled() {
    const evs = this.cast?.events ?? [];
    return this.pending === 0 && !this.needReset && !(this.next < evs.length && evs[this.next][0] <= this.pos);
  }

  write(data) {
    const term = this.term;
    this.pending++;
    term.write(data, () => {
      if (term === this.term && --this.pending === 0) this.pump(); // not a disposed one's
    });
  }

  get speed() { return Number(this.speedSel.value) || 1; }
  get duration() { return this.cast ? this.cast.duration : 0; }

  // load shows the recording whose asciicast text is given, at its start.
  load(text) {
    this.pause();
    const { header, events } = parseCast(text);
    const last = events.length ? events[events.length - 1][0] : 0;
    this.cast = { header, events, duration: last };
    if (this.term) this.term.dispose();
    this.pending = 0; // the old terminal's callbacks are ignored
    this.term = new Terminal({
      cols: header.width || 80, rows: header.height || 24, disableStdin: true, scrollback: 5000,
      fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace',
      fontSize: 13, theme: { background: "#10141c" },
    });
    this.term.open(this.termEl);
    this.seekInput.max = String(last);
    this.seekInput.step = "0.1";
    this.el.hidden = false;
    this.seek(0);
  }

  // seek shows the screen as it was at t seconds: the terminal is reset and
  // fed every event up to t at once.
  seek(t) {
    if (!this.cast) return;
    this.pos = Math.max(0, Math.min(t, this.duration));
    this.needReset = true;
    this.pump();
    if (this.playing) this.play();
    this.showPos();
  }

  // pump brings the terminal to pos. A reset or a resize waits until the
  // terminal has parsed what was written before it, so that the three
  // happen in the recording's order.
  pump() {
    if (this.pending > 0) return; // the last write's callback pumps again
    if (this.needReset) {
      const { header } = this.cast;
      this.term.reset();
      this.term.resize(header.width || 80, header.height || 24);
      this.next = 0;
      this.needReset = false;
    }
    const evs = this.cast.events;
    let out = "";
    while (this.next < evs.length && evs[this.next][0] <= this.pos) {
      const [, kind, data] = evs[this.next];
      if (kind === "r") {
        const m = /^(\d+)x(\d+)$/.exec(data);
        if (m && out) break; // after what comes before it is parsed
        if (m) this.term.resize(Number(m[1]), Number(m[2]));
      } else if (kind === "o") {
        out += data;
      }
      this.next++;
    }
    if (out) this.write(out);
  }

  play() {
    if (!this.cast) return;
    if (this.pos >= this.duration) this.seek(0);
    clearInterval(this.timer);
    this.playing = true;
    this.playBtn.textContent = "Pause";
    const from = this.pos, wall = performance.now(), speed = this.speed;
    this.timer = setInterval(() => {
      this.pos = Math.min(from + ((performance.now() - wall) / 1000) * speed, this.duration);
      this.pump();
      this.showPos();
      if (this.pos >= this.duration) this.pause();
    }, 30);
  }

  pause() {
    clearInterval(this.timer);
    this.timer = null;
    this.playing = false;
    this.playBtn.textContent = "Play";
  }

  showPos() {
    this.seekInput.value = String(this.pos);
    this.timeLabel.textContent = `${clock(this.pos)} / ${clock(this.duration)}`;
  }

  // text returns what the terminal shows, line by line (for tests).
  text() {
    if (!this.term) return "";
    const buf = this.term.buffer.active, lines = [];
    for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i).translateToString(true));
    return lines.join("\n").replace(/\n+$/, "");
  }
}

// Recordings is the tab: the list, its filters, and the player.
export class Recordings {
  constructor(panel) {
    this.panel = panel;
    this.channel = null; // no socket of its own: the indicator shows Chat's
    this.body = panel.querySelector("#recordings-table tbody");
    this.status = panel.querySelector("#recordings-status");
    this.filter = panel.querySelector("#recordings-filter");
    this.player = new Player(panel.querySelector("#replay"));
    this.titleEl = panel.querySelector("#replay-title");
    this.filter.addEventListener("submit", (e) => { e.preventDefault(); this.load(); });
    panel.querySelector("#recordings-refresh").addEventListener("click", () => this.load());
  }

  show() { this.load(); }
  hide() { this.player.pause(); }

  say(text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  }

  async load() {
    const q = new URLSearchParams();
    const f = this.filter.elements;
    if (f.user.value.trim()) q.set("user", f.user.value.trim());
    if (f.host.value.trim()) q.set("host", f.host.value.trim());
    if (f.since.value) q.set("since", new Date(f.since.value).toISOString().replace(/\.\d+Z$/, "Z"));
    try {
      const resp = await fetch("/api/recordings?" + q, { credentials: "same-origin", cache: "no-store" });
      if (!resp.ok) throw new Error(`${resp.status}: ${(await resp.text()).trim()}`);
      this.render(await resp.json());
      this.say("");
    } catch (e) {
      this.say(`Listing the recordings failed: ${e.message}`);
    }
  }

  render(list) {
    this.body.replaceChildren();
    if (!list.length) this.say("No recordings.");
    for (const r of list) {
      const tr = document.createElement("tr");
      tr.dataset.id = r.id;
      cell(tr, r.user);
      cell(tr, r.host);
      cell(tr, fmt.format(new Date(r.start)));
      cell(tr, r.done ? clock(r.duration) + (r.interrupted ? " (interrupted)" : "") : "live");
      cell(tr, `${(r.size / 1024).toFixed(1)} KiB${r.truncated ? " (truncated)" : ""}`);
      const td = cell(tr, "");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "replay-open";
      btn.textContent = "Replay";
      btn.addEventListener("click", () => this.open(r));
      td.appendChild(btn);
      const a = document.createElement("a");
      a.href = `/api/recordings/${encodeURIComponent(r.id)}/cast`;
      a.textContent = ".cast";
      a.download = `${r.id}.cast`;
      td.append(" ", a);
      this.body.appendChild(tr);
    }
  }

  // open loads recording r (an entry of the list, or {id}) into the player.
  async open(r) {
    try {
      const resp = await fetch(`/api/recordings/${encodeURIComponent(r.id)}/cast`, { credentials: "same-origin", cache: "no-store" });
      if (!resp.ok) throw new Error(`${resp.status}: ${(await resp.text()).trim()}`);
      this.player.load(await resp.text());
      this.titleEl.textContent = r.user ? `${r.user}@${r.host}, ${fmt.format(new Date(r.start))}` : r.id;
      this.say("");
    } catch (e) {
      this.say(`Opening recording ${r.id} failed: ${e.message}`);
    }
  }
}
