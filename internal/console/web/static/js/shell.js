// The Shell tab: interactive terminals on the hosts the user may reach, or
// on the console's machine ("local", admins only), over /ws/shell
// (docs/protocol.md). Terminals are tabs; a broadcast opens one pane per
// host in a grid, and what is typed into a pane of the broadcast goes to
// every pane still in it.
//
// Sessions outlive the page: their ids are kept in sessionStorage, and a
// page that reloads or reconnects attaches to them again; the server
// replays their scrollback, so the screen comes back. A session ends when
// its shell exits or Close is pressed. Other users' sessions shared with
// this user can be watched (read-only unless the owner lets them type).
//
// One socket carries every terminal of the page: binary frames, both
// ways, start with the channel's byte (0 from the page: the broadcast);
// JSON text frames are the control messages. The page acks the output
// bytes xterm.js has drawn: a remote program that writes faster than the
// page draws is paused by the server, so neither grows without bound.

import { Terminal } from "../vendor/xterm/xterm.mjs";
import { FitAddon } from "../vendor/xterm/addon-fit.mjs";

const STORE = "wsdeck.shell";
const ACK_EVERY_MS = 20;
const INPUT_CHUNK = 16 << 10; // below --max-message-size: a paste goes in pieces
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
const encoder = new TextEncoder();

export class Shell {
  constructor(panel, onState) {
    this.panel = panel;
    this.onState = onState;
    this.form = panel.querySelector("#shell-form");
    this.hostInput = panel.querySelector("#shell-host");
    this.manyInput = panel.querySelector("#shell-many");
    this.tabsEl = panel.querySelector("#shell-tabs");
    this.panesEl = panel.querySelector("#shell-panes");
    this.statusEl = panel.querySelector("#shell-status");
    this.listEl = panel.querySelector("#shell-list");
    this.channel = { state: "idle", why: "", reason: "", retryAt: 0, lastClose: null };
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.shown = false;
    this.views = [];          // every view (a tab): {id, title, terms: [...], el, tab}
    this.byCh = new Map();    // channel -> term
    this.bySession = new Map(); // session id -> term
    this.current = null;      // the view shown
    this.acks = new Map();    // channel -> bytes drawn, not acked yet
    this.ackTimer = null;
    this.seq = 0;
    this.pendingGroup = new Map(); // open request id -> view for its panes

    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.open(this.hostInput.value.trim(), this.manyInput.checked);
    });
    panel.querySelector("#shell-refresh").addEventListener("click", () => this.send({ type: "list" }));
    window.addEventListener("resize", () => this.fitAll());
  }

  // start connects; the socket stays open while the page lives, so that
  // terminals in the background keep drawing.
  start() {
    if (this.ws || this.timer) return;
    this.connect();
  }

  show() {
    this.shown = true;
    this.start();
    requestAnimationFrame(() => this.fitAll());
  }

  hide() { this.shown = false; }

  setState(state, why = "", reason = "") {
    Object.assign(this.channel, { state, why, reason });
    this.onState(state, this.channel);
  }

  connect() {
    this.timer = null;
    this.setState("connecting");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws/shell`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.setState("open");
      this.byCh.clear();
      // Attach again to every session this page had: their screens come
      // back from the scrollback.
      const ids = new Set([...this.bySession.keys(), ...this.stored().map((s) => s.session)]);
      for (const id of ids) this.attachSession(id, this.stored().find((s) => s.session === id)?.group);
      this.send({ type: "list" });
    };
    ws.onmessage = (e) => {
      if (typeof e.data === "string") this.receive(JSON.parse(e.data));
      else this.output(new Uint8Array(e.data));
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.channel.lastClose = { code: e.code, reason: e.reason };
      if (e.code === 4401) {
        this.setState("ended", "logged_out", "Logged out: log in again");
        return;
      }
      const wait = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
      this.channel.retryAt = Date.now() + wait;
      this.setState("offline", "network", "offline");
      this.timer = setTimeout(() => this.connect(), wait);
    };
  }

  send(msg) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  sendInput(ch, data) {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    for (let i = 0; i < bytes.length || i === 0; i += INPUT_CHUNK) {
      const part = bytes.subarray(i, i + INPUT_CHUNK);
      const frame = new Uint8Array(part.length + 1);
      frame[0] = ch;
      frame.set(part, 1);
      this.ws.send(frame);
      if (bytes.length === 0) break;
    }
  }

  // stored returns the sessions this page keeps across reloads.
  stored() {
    try { return JSON.parse(sessionStorage.getItem(STORE) || "[]"); } catch { return []; }
  }

  save() {
    const list = [];
    for (const t of this.bySession.values()) {
      if (!t.ended) list.push({ session: t.session, group: t.view.group ? t.view.id : undefined });
    }
    sessionStorage.setItem(STORE, JSON.stringify(list));
  }

  setStatus(text, kind = "") {
    this.statusEl.textContent = text;
    this.statusEl.dataset.kind = kind;
    this.statusEl.hidden = !text;
  }

  open(host, many) {
    if (!host) return;
    const id = `o${++this.seq}`;
    const size = this.guessSize(many);
    if (many) {
      this.pendingGroup.set(id, this.newView(`${host}`, true));
    }
    this.setStatus(`connecting to ${host}…`);
    this.send({ type: "open", id, host, many, cols: size.cols, rows: size.rows });
  }

  attachSession(session, group) {
    const t = this.bySession.get(session);
    const size = t ? { cols: t.term.cols, rows: t.term.rows } : this.guessSize(false);
    this.send({ type: "attach", id: group ? `g:${group}` : "", session, cols: size.cols, rows: size.rows });
  }

  guessSize(many) {
    const w = this.panesEl.clientWidth || 800;
    const h = this.panesEl.clientHeight || 400;
    const div = many ? 2 : 1;
    return { cols: Math.max(20, Math.floor(w / div / 8)), rows: Math.max(5, Math.floor(h / div / 17)) };
  }

  receive(msg) {
    switch (msg.type) {
      case "attached": this.attached(msg); break;
      case "opened": {
        this.setStatus("");
        if (msg.errors?.length) this.setStatus(msg.errors.map((e) => `${e.host}: ${e.error}`).join("\n"), "error");
        const view = this.pendingGroup.get(msg.id);
        this.pendingGroup.delete(msg.id);
        if (view) {
          if (!view.terms.length) this.removeView(view);
          else this.setBroadcast(view);
        }
        break;
      }
      case "ended":
      case "detached": {
        const t = this.byCh.get(msg.ch);
        if (!t || t.session !== msg.session) break;
        this.byCh.delete(msg.ch);
        if (msg.type === "detached") { // a watcher that fell behind: catch up
          this.attachSession(msg.session);
          break;
        }
        t.ended = true;
        t.term.write(`\r\n\x1b[2m[session ended: ${msg.reason}]\x1b[0m\r\n`);
        t.tab?.classList.add("ended");
        t.head.dataset.ended = "true";
        this.save();
        break;
      }
      case "size": {
        const t = this.byCh.get(msg.ch);
        if (t && !t.write) t.term.resize(msg.cols, msg.rows);
        break;
      }
      case "sessions": this.showList(msg); break;
      case "error": {
        if (msg.for === "attach" && msg.code !== "denied") {
          // The session ended while the page was away.
          const gone = this.stored().filter((s) => !msg.error.includes(s.session));
          sessionStorage.setItem(STORE, JSON.stringify(gone));
        }
        if (msg.for !== "ack") this.setStatus(msg.error, "error");
        break;
      }
    }
  }

  // attached sets a terminal up for a session on its channel (or moves an
  // existing one there after a reconnect): its scrollback follows.
  attached(msg) {
    const info = msg.session;
    let t = this.bySession.get(info.session);
    if (t) {
      t.term.reset(); // the scrollback comes again in full
      t.ended = false;
    } else {
      let view = this.pendingGroup.get(msg.id);
      if (!view && msg.id?.startsWith("g:")) {
        view = this.views.find((v) => v.id === msg.id.slice(2)) || this.newView(info.host, true, msg.id.slice(2));
      }
      t = this.newTerm(info, view);
    }
    t.ch = info.ch;
    // The scrollback comes first: drawn without answering the terminal
    // queries it holds (a program asked them long ago, and had its
    // answers; answered again they would be typed into the shell).
    t.replay = info.replay || 0;
    t.muted = t.replay > 0;
    t.write = info.write;
    t.owner = info.owner;
    t.term.options.disableStdin = !info.write;
    t.head.querySelector(".who").textContent = info.owner ? "" : `${info.user}'s${info.write ? "" : " (read-only)"}`;
    t.share.hidden = !info.owner;
    t.share.value = info.share;
    this.byCh.set(info.ch, t);
    this.save();
    if (!t.view.group) this.select(t.view);
    else if (t.view.terms.every((x) => this.byCh.get(x.ch) === x)) this.setBroadcast(t.view);
    requestAnimationFrame(() => this.fit(t));
  }

  newView(title, group, id) {
    const view = { id: id || `v${++this.seq}${Date.now().toString(36)}`, title, group, terms: [] };
    view.el = document.createElement("div");
    view.el.className = group ? "shell-view grid" : "shell-view";
    view.el.hidden = true;
    this.panesEl.append(view.el);
    view.tab = document.createElement("button");
    view.tab.type = "button";
    view.tab.className = "shell-tab";
    view.tab.textContent = group ? `${title} (broadcast)` : title;
    view.tab.addEventListener("click", () => this.select(view));
    this.tabsEl.append(view.tab);
    this.views.push(view);
    this.select(view);
    return view;
  }

  removeView(view) {
    view.el.remove();
    view.tab.remove();
    this.views = this.views.filter((v) => v !== view);
    if (this.current === view) this.select(this.views.at(-1) || null);
  }

  select(view) {
    this.current = view;
    for (const v of this.views) {
      v.el.hidden = v !== view;
      v.tab.setAttribute("aria-selected", String(v === view));
    }
    if (view) requestAnimationFrame(() => { for (const t of view.terms) this.fit(t); view.terms[0]?.term.focus(); });
  }

  newTerm(info, view) {
    if (!view) view = this.newView(info.host, false);
    const t = { session: info.session, host: info.host, view, ch: 0, write: false, ended: false, inBroadcast: view.group };
    t.el = document.createElement("div");
    t.el.className = "shell-pane";
    t.head = document.createElement("div");
    t.head.className = "shell-pane-head";
    t.head.innerHTML = `<span class="host"></span> <span class="who"></span>
      <label class="bcast" hidden><input type="checkbox" checked> broadcast</label>
      <select class="share" title="who else may attach" hidden>
        <option value="none">not shared</option><option value="watch">others may watch</option><option value="type">others may type</option>
      </select>
      <button type="button" class="close danger" title="end the session (the shell is hung up)">Close</button>`;
    t.head.querySelector(".host").textContent = info.host;
    t.share = t.head.querySelector(".share");
    t.share.addEventListener("change", () => this.send({ type: "share", ch: t.ch, share: t.share.value }));
    const bcast = t.head.querySelector(".bcast");
    bcast.hidden = !view.group;
    bcast.querySelector("input").addEventListener("change", (e) => {
      t.inBroadcast = e.target.checked;
      this.setBroadcast(view);
    });
    t.head.querySelector(".close").addEventListener("click", () => {
      if (t.ended || !this.byCh.has(t.ch)) this.dropTerm(t);
      else this.send({ type: "close", ch: t.ch });
    });
    const box = document.createElement("div");
    box.className = "shell-term";
    t.el.append(t.head, box);
    view.el.append(t.el);
    t.term = new Terminal({
      convertEol: false, scrollback: 10000, cursorBlink: true, allowProposedApi: false,
      fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace',
      fontSize: 13, theme: { background: "#10141c" },
    });
    t.fit = new FitAddon();
    t.term.loadAddon(t.fit);
    t.term.open(box);
    t.term.onData((d) => this.typed(t, d));
    t.term.onBinary((d) => this.typed(t, Uint8Array.from(d, (c) => c.charCodeAt(0))));
    t.term.onResize(({ cols, rows }) => { if (t.write && this.byCh.get(t.ch) === t) this.send({ type: "resize", ch: t.ch, cols, rows }); });
    t.term.onTitleChange((title) => { if (!view.group) view.tab.textContent = title || info.host; });
    view.terms.push(t);
    this.bySession.set(info.session, t);
    return t;
  }

  dropTerm(t) {
    if (this.byCh.get(t.ch) === t) {
      this.send({ type: "detach", ch: t.ch });
      this.byCh.delete(t.ch);
    }
    this.bySession.delete(t.session);
    t.term.dispose();
    t.el.remove();
    t.view.terms = t.view.terms.filter((x) => x !== t);
    if (!t.view.terms.length) this.removeView(t.view);
    this.save();
  }

  // typed sends what was typed into t: to every pane of the broadcast
  // when t is in it, else to t alone.
  typed(t, data) {
    if (!t.write || t.ended || t.muted) return;
    if (t.view.group && t.inBroadcast) this.sendInput(0, data);
    else this.sendInput(t.ch, data);
  }

  setBroadcast(view) {
    const chs = view.terms.filter((t) => t.inBroadcast && !t.ended && this.byCh.get(t.ch) === t).map((t) => t.ch);
    this.send({ type: "broadcast", chs });
  }

  // output draws a binary frame, and acks it once drawn.
  output(frame) {
    const ch = frame[0];
    const t = this.byCh.get(ch);
    const n = frame.length - 1;
    if (!t) {
      this.ack(ch, n);
      return;
    }
    let last = false;
    if (t.replay > 0) {
      t.replay -= n;
      last = t.replay <= 0;
    }
    t.term.write(frame.subarray(1), () => {
      if (last) t.muted = false;
      this.ack(ch, n);
    });
  }

  ack(ch, n) {
    this.acks.set(ch, (this.acks.get(ch) || 0) + n);
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      for (const [c, bytes] of this.acks) this.send({ type: "ack", ch: c, bytes });
      this.acks.clear();
    }, ACK_EVERY_MS);
  }

  fit(t) {
    if (t.el.offsetParent === null) return;
    try { t.fit.fit(); } catch { /* not laid out yet */ }
  }

  fitAll() {
    if (this.current) for (const t of this.current.terms) this.fit(t);
  }

  // showList lists the sessions of this node the user may attach.
  showList(msg) {
    this.listEl.replaceChildren();
    for (const s of msg.sessions) {
      if (this.bySession.has(s.session) && !this.bySession.get(s.session).ended) continue;
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = s.owner ? "Attach" : (s.write ? "Join" : "Watch");
      b.addEventListener("click", () => { this.attachSession(s.session); li.remove(); });
      li.append(b, ` ${s.host} — ${s.user}, since ${new Date(s.start).toLocaleTimeString()}` +
        `${s.attached ? `, ${s.attached} attached` : ", detached"}`);
      this.listEl.append(li);
    }
    this.listEl.parentElement.hidden = !this.listEl.children.length;
  }

  // text returns what terminal i of the shown view holds (for tests).
  text(i = 0) {
    const t = this.current?.terms[i];
    if (!t) return "";
    const buf = t.term.buffer.active;
    const lines = [];
    for (let y = 0; y < buf.length; y++) lines.push(buf.getLine(y)?.translateToString(true) ?? "");
    return lines.join("\n");
  }
}
