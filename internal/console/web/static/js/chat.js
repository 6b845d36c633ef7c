// The Chat tab: rooms (a column to list, create and switch them), each
// with nicknames, join/leave notices and history.
//
// After a reconnect it asks for what it missed in its room
// (since=SEQ&psince=PSEQ&epoch=EPOCH), so nothing sent while it was away
// is lost, within the server's history. Each message it sends has an id of
// its own; a message stays pending, shown greyed, until the server says it
// is stored ("sent"), and is sent again, with the same id, after a
// reconnect or while the server's storage is unavailable: the server keeps
// it once.

import { Channel } from "./socket.js";

const NICK_KEY = "wsdeck.nick";
const ROOM_KEY = "wsdeck.room";
const DEFAULT_ROOM = "lobby";
const ROOM_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
const MAX_ITEMS = 2000;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 10000;

function randomId() {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export class Chat {
  constructor(el, onState, onUnread) {
    this.list = el.querySelector("#messages");
    this.atEnd = true;          // the reader is at the end of the list (see follow)
    this.scrollQueued = false;
    this.list.addEventListener("scroll", () => this.scrolled(), { passive: true });
    this.form = el.querySelector("#composer");
    this.input = el.querySelector("#text");
    this.nickInput = el.querySelector("#nick");
    this.roomList = el.querySelector("#rooms");
    this.roomForm = el.querySelector("#room-form");
    this.roomInput = el.querySelector("#room-name");
    this.roomTitle = el.querySelector("#room-title");
    this.onStateCb = onState;
    this.onUnread = onUnread;
    this.lastSeq = 0;   // the message stream's sequence seen up to
    this.lastPSeq = 0;  // the presence stream's
    this.epoch = "";    // the streams those sequences belong to
    this.maxText = 4096;
    this.nick = localStorage.getItem(NICK_KEY) || "";
    this.nickInput.value = this.nick;
    this.room = localStorage.getItem(ROOM_KEY) || DEFAULT_ROOM;
    this.rooms = new Set([this.room]);
    this.clientId = randomId(); // message ids are this page's: CLIENT-N
    this.counter = 0;
    this.outbox = [];           // {id, room, text, li}: sent, not yet stored
    this.storageDown = "";      // why the server cannot store messages now, or ""
    this.retryAt = 0;
    this.retryTimer = null;
    this.retryAttempt = 0;

    this.channel = new Channel("/ws/chat", {
      params: () => {
        const p = { nick: this.nick, room: this.room };
        if (this.epoch) Object.assign(p, { since: String(this.lastSeq), psince: String(this.lastPSeq), epoch: this.epoch });
        return p;
      },
      onMessage: (msg) => this.receive(msg),
      onState: () => this.showState(),
    });

    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submit();
    });
    this.nickInput.addEventListener("change", () => this.rename(this.nickInput.value));
    this.nickInput.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") this.rename(this.nickInput.value);
    });
    this.roomForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.createRoom(this.roomInput.value);
    });
    this.roomList.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-room]");
      if (b) this.switchRoom(b.dataset.room);
    });
    this.renderRooms();
  }

  start() { this.channel.start(); }

  // showState reports the socket's state, or, while the socket is open
  // but the server cannot store messages, an offline state of its own.
  showState() {
    const ch = this.channel;
    if (this.storageDown && ch.state === "open") {
      this.onStateCb("offline", { state: "offline", why: "storage", reason: this.storageDown, retryAt: this.retryAt, lastClose: null });
      return;
    }
    this.onStateCb(ch.state, ch);
  }

  submit() {
    const text = this.input.value;
    if (text.trim() === "") return;
    const size = new TextEncoder().encode(text).length;
    if (size > this.maxText) {
      this.notice(`Message too long: ${size} bytes, the limit is ${this.maxText}.`, "error");
      return;
    }
    const item = { id: `${this.clientId}-${++this.counter}`, room: this.room, text, li: null };
    item.li = this.pendingItem(item);
    this.outbox.push(item);
    this.append(item.li);
    this.input.value = "";
    this.channel.send({ type: "send", id: item.id, text }); // if not open, sent on the next welcome
  }

  // pendingItem shows a message sent and not yet stored.
  pendingItem(item) {
    const li = document.createElement("li");
    li.className = "pending";
    li.dataset.id = item.id;
    li.title = "Not yet stored: it will be sent again until it is";
    const nick = document.createElement("span");
    nick.className = "nick";
    nick.textContent = this.nick;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = item.text;
    nick.dir = text.dir = "auto";
    li.append(nick, text);
    return li;
  }

  // resend sends again the messages of this room not yet stored.
  resend() {
    for (const item of this.outbox) {
      if (item.room === this.room) this.channel.send({ type: "send", id: item.id, text: item.text });
    }
  }

  // stored forgets a message once the server has it.
  stored(id) {
    const i = this.outbox.findIndex((it) => it.id === id);
    if (i < 0) return;
    this.outbox.splice(i, 1);
    if (this.storageDown) {
      this.storageDown = "";
      this.retryAttempt = 0;
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.showState();
    }
  }

  // storageFailed keeps the outbox and retries it with backoff.
  storageFailed(reason) {
    this.storageDown = reason || "chat storage unavailable";
    if (!this.retryTimer) {
      const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.retryAttempt++);
      this.retryAt = Date.now() + delay;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.resend();
      }, delay);
    }
    this.showState();
  }

  rename(nick) {
    nick = nick.trim();
    if (this.fixed || nick === "" || nick === this.nick) {
      this.nickInput.value = this.nick;
      return;
    }
    this.nick = nick;
    localStorage.setItem(NICK_KEY, nick);
    this.channel.send({ type: "nick", nick });
  }

  createRoom(name) {
    name = name.trim().toLowerCase();
    if (!ROOM_NAME.test(name)) {
      this.notice("A room name has 1 to 32 of a-z, 0-9 and - (not first).", "error");
      return;
    }
    if (this.rooms.has(name)) {
      this.roomInput.value = "";
      this.switchRoom(name);
      return;
    }
    if (!this.channel.send({ type: "create", room: name })) {
      this.notice("Not connected: the room was not created.", "error");
    }
  }

  // switchRoom joins room: a new connection, with the room's history.
  switchRoom(room) {
    if (room === this.room) return;
    this.room = room;
    localStorage.setItem(ROOM_KEY, room);
    this.clear();
    this.epoch = "";
    this.renderRooms();
    this.channel.stop();
    this.channel.start();
  }

  // clear empties the list but for this room's pending messages.
  clear() {
    this.list.replaceChildren();
    this.atEnd = true;
    this.lastSeq = this.lastPSeq = 0;
    for (const item of this.outbox) {
      if (item.room === this.room) this.list.append(item.li);
    }
  }

  renderRooms() {
    this.rooms.add(this.room);
    const items = [...this.rooms].sort().map((name) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.room = name;
      b.textContent = `#${name}`;
      if (name === this.room) b.setAttribute("aria-current", "true");
      li.append(b);
      return li;
    });
    this.roomList.replaceChildren(...items);
    this.roomTitle.textContent = `#${this.room}`;
  }

  receive(msg) {
    switch (msg.type) {
    case "welcome":
      this.welcome(msg);
      break;
    case "message":
    case "join":
    case "leave":
    case "nick":
    case "presence":
      this.event(msg, "live");
      break;
    case "sent":
      this.stored(msg.id);
      break;
    case "room":
      this.rooms.add(msg.name);
      this.renderRooms();
      break;
    case "created":
      this.rooms.add(msg.room);
      this.roomInput.value = "";
      this.switchRoom(msg.room);
      break;
    case "error":
      this.error(msg);
      break;
    default:
      console.warn("wsdeck chat: unknown message", msg);
    }
  }

  error(msg) {
    const item = msg.for === "send" && this.outbox.find((it) => it.id === msg.id);
    if (item && msg.code === "unavailable") {
      this.storageFailed(msg.error);
      return;
    }
    if (item) {
      // Refused for good (too long, empty once cleaned): say so beside it.
      this.outbox.splice(this.outbox.indexOf(item), 1);
      item.li.className = "error";
      item.li.title = msg.error || msg.code;
    }
    this.notice(msg.error || msg.code, "error");
  }

  welcome(w) {
    if (w.reset) {
      // The server's streams were made anew: their sequences start again.
      this.clear();
      this.notice("The server's history was reset; showing what it has.", "notice");
    }
    if (w.truncated) this.notice("Some messages may have been missed while disconnected (older than the server's history).", "notice");
    this.epoch = w.epoch;
    this.maxText = w.max_text || this.maxText;
    if (w.room && w.room !== this.room) {
      // The room asked for is gone: the server put us in its default.
      this.room = w.room;
      localStorage.setItem(ROOM_KEY, w.room);
      this.clear();
    }
    this.rooms = new Set(w.rooms || []);
    this.renderRooms();
    // In team mode the name is the login, fixed by the server: the page
    // shows it and cannot change it (the server refuses a nick message).
    this.fixed = !!w.fixed;
    this.nickInput.readOnly = this.fixed;
    this.nickInput.title = this.fixed ? "your login name" : "";
    if (this.nick !== w.nick) {
      // A first visit (the server chose a guest name), a nickname it
      // refused, or the login's name in team mode (not kept as the
      // nickname of token mode).
      this.nick = w.nick;
      if (!this.fixed) localStorage.setItem(NICK_KEY, w.nick);
    }
    this.nickInput.value = this.nick;
    for (const e of w.history) this.event(e, "history");
    this.lastSeq = Math.max(this.lastSeq, w.seq);
    this.lastPSeq = Math.max(this.lastPSeq, w.pseq || 0);
    this.resend();
  }

  event(e, via) {
    // Messages and presence events are numbered apart.
    if (e.type === "message") {
      if (e.seq <= this.lastSeq) return; // seen before a reconnect
      this.lastSeq = e.seq;
    } else {
      if (e.seq <= this.lastPSeq) return;
      this.lastPSeq = e.seq;
    }
    const li = document.createElement("li");
    li.dataset.seq = e.seq;
    li.dataset.type = e.type;
    li.dataset.via = via;
    const time = document.createElement("time");
    time.className = "time";
    const d = new Date(e.time);
    time.dateTime = d.toISOString();
    time.textContent = d.toLocaleTimeString();
    li.append(time);
    const span = (cls, text) => {
      const s = document.createElement("span");
      s.className = cls;
      s.textContent = text;
      return s;
    };
    switch (e.type) {
    case "message": {
      // Each in a direction of its own, isolated: right-to-left text in
      // a nickname or a message cannot reorder what is around it.
      const nick = span("nick", e.nick);
      const text = span("text", e.text);
      nick.dir = text.dir = "auto";
      li.append(nick, text);
      if (e.id) {
        // One of ours, stored: it replaces its pending line.
        this.stored(e.id);
        this.list.querySelector(`li.pending[data-id="${CSS.escape(e.id)}"]`)?.remove();
      }
      break;
    }
    case "join":
      li.classList.add("event");
      li.append(span("text", `${e.nick} joined`));
      break;
    case "leave":
      li.classList.add("event");
      li.append(span("text", `${e.nick} left`));
      break;
    case "nick":
      li.classList.add("event");
      li.append(span("text", `${e.old} is now ${e.nick}`));
      break;
    case "presence":
      // Several members' comings and goings that one node announced
      // together (a burst of joins): one line.
      li.classList.add("event");
      li.append(span("text", presenceText(e.events || [])));
      break;
    }
    this.append(li);
    if (e.type === "message" && via === "live") this.onUnread();
  }

  notice(text, cls) {
    const li = document.createElement("li");
    li.className = cls;
    li.textContent = text;
    this.append(li);
  }

  // append adds li at the end, before the pending messages, which stay
  // last until they are stored. A list read at the bottom stays there:
  // it is scrolled once a frame, not once a line. Reading the list's
  // geometry after each line made the browser lay out all of it for each
  // (thousands of times for a welcome after a reconnect, hundreds a
  // second in a busy room).
  append(li) {
    const l = this.list;
    const pending = li.classList.contains("pending") ? null : l.querySelector("li.pending");
    l.insertBefore(li, pending);
    while (l.childElementCount > MAX_ITEMS) l.firstElementChild.remove();
    this.follow();
  }

  // follow scrolls the list to its end at the next frame if the reader
  // was at the end (within 40 pixels) when last seen.
  follow() {
    if (!this.atEnd || this.scrollQueued) return;
    this.scrollQueued = true;
    requestAnimationFrame(() => {
      this.scrollQueued = false;
      this.list.scrollTop = this.list.scrollHeight;
    });
  }

  // scrolled notes whether the reader is at the end of the list. Scrolls
  // made while a follow is queued are the list moving under lines
  // removed from its top, not the reader's.
  scrolled() {
    if (this.scrollQueued) return;
    const l = this.list;
    this.atEnd = l.scrollHeight - l.scrollTop - l.clientHeight < 40;
  }
}

// presenceText says in one line what a batch of presence events did:
// "ann, bob and 3 others joined; cy left".
function presenceText(events) {
  const names = (list) => list.length <= 5
    ? list.join(", ")
    : `${list.slice(0, 4).join(", ")} and ${list.length - 4} others`;
  const joined = events.filter((p) => p.type === "join").map((p) => p.nick);
  const left = events.filter((p) => p.type === "leave").map((p) => p.nick);
  const parts = [];
  if (joined.length) parts.push(`${names(joined)} joined`);
  if (left.length) parts.push(`${names(left)} left`);
  for (const p of events) {
    if (p.type === "nick") parts.push(`${p.old} is now ${p.nick}`);
  }
  return parts.join("; ");
}
