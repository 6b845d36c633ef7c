// The Chat tab: a room with nicknames, join/leave notices and history.
// After a reconnect it asks for what it missed (since=SEQ&epoch=EPOCH), so
// nothing sent while it was away is lost, within the server's history.

import { Channel } from "./socket.js";

const NICK_KEY = "wsdeck.nick";
const MAX_ITEMS = 2000;

export class Chat {
  constructor(el, onState, onUnread) {
    this.list = el.querySelector("#messages");
    this.form = el.querySelector("#composer");
    this.input = el.querySelector("#text");
    this.nickInput = el.querySelector("#nick");
    this.onUnread = onUnread;
    this.lastSeq = 0;   // the last event shown
    this.epoch = "";    // the server's epoch those sequence numbers belong to
    this.maxText = 4096;
    this.nick = localStorage.getItem(NICK_KEY) || "";
    this.nickInput.value = this.nick;

    this.channel = new Channel("/ws/chat", {
      params: () => this.lastSeq > 0 || this.epoch
        ? { nick: this.nick, since: String(this.lastSeq), epoch: this.epoch }
        : { nick: this.nick },
      onMessage: (msg) => this.receive(msg),
      onState,
    });

    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submit();
    });
    this.nickInput.addEventListener("change", () => this.rename(this.nickInput.value));
    this.nickInput.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") this.rename(this.nickInput.value);
    });
  }

  start() { this.channel.start(); }

  submit() {
    const text = this.input.value;
    if (text.trim() === "") return;
    const size = new TextEncoder().encode(text).length;
    if (size > this.maxText) {
      this.notice(`Message too long: ${size} bytes, the limit is ${this.maxText}.`, "error");
      return;
    }
    if (!this.channel.send({ type: "send", text })) {
      this.notice("Not connected: the message was not sent.", "error");
      return;
    }
    this.input.value = "";
  }

  rename(nick) {
    nick = nick.trim();
    if (nick === "" || nick === this.nick) {
      this.nickInput.value = this.nick;
      return;
    }
    this.nick = nick;
    localStorage.setItem(NICK_KEY, nick);
    this.channel.send({ type: "nick", nick });
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
      this.event(msg, "live");
      break;
    case "error":
      this.notice(msg.error || msg.code, "error");
      break;
    default:
      console.warn("wsdeck chat: unknown message", msg);
    }
  }

  welcome(w) {
    if (w.reset) {
      // The server restarted: its sequence numbers start again.
      this.list.replaceChildren();
      this.lastSeq = 0;
      this.notice("The server restarted; showing its history.", "notice");
    }
    if (w.truncated) this.notice("Some messages were missed while disconnected (older than the server's history).", "notice");
    this.epoch = w.epoch;
    this.maxText = w.max_text || this.maxText;
    if (this.nick !== w.nick) {
      // A first visit (the server chose a guest name) or a nickname it refused.
      this.nick = w.nick;
      localStorage.setItem(NICK_KEY, w.nick);
    }
    this.nickInput.value = this.nick;
    for (const e of w.history) this.event(e, "history");
    this.lastSeq = Math.max(this.lastSeq, w.seq);
  }

  event(e, via) {
    if (e.seq <= this.lastSeq) return; // seen before a reconnect
    this.lastSeq = e.seq;
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

  append(li) {
    const l = this.list;
    const atBottom = l.scrollHeight - l.scrollTop - l.clientHeight < 40;
    l.append(li);
    while (l.childElementCount > MAX_ITEMS) l.firstElementChild.remove();
    if (atBottom) l.scrollTop = l.scrollHeight;
  }
}
