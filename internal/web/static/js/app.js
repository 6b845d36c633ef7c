// The console page: three tabs (Chat, Monitor, Exec) and a connection
// indicator for the shown tab's socket. Chat stays connected in the
// background; Monitor and Exec connect only while shown.

import { Chat } from "./chat.js";
import { Monitor } from "./monitor.js";
import { Exec } from "./exec.js";

const conn = document.getElementById("conn");
const connLabel = document.getElementById("conn-label");
const unread = document.getElementById("unread");
let current = "chat";
let unreadCount = 0;

const labels = { idle: "idle", connecting: "connecting…", open: "connected", offline: "offline" };

function showState(tab, channel) {
  if (tab !== current) return;
  conn.dataset.state = channel.state;
  let label = labels[channel.state] || channel.state;
  if (channel.state === "offline") {
    const secs = Math.max(0, Math.round((channel.retryAt - Date.now()) / 1000));
    label = `offline, retrying in ${secs} s`;
    if (channel.lastClose?.code) conn.title = `closed: ${channel.lastClose.code} ${channel.lastClose.reason}`;
  } else {
    conn.title = "";
  }
  connLabel.textContent = label;
}

const chat = new Chat(document.getElementById("panel-chat"), (s, ch) => showState("chat", ch), () => {
  if (current === "chat") return;
  unreadCount++;
  unread.textContent = String(unreadCount);
  unread.hidden = false;
});
const monitor = new Monitor(document.getElementById("panel-monitor"), (s, ch) => showState("monitor", ch));
const exec = new Exec(document.getElementById("panel-exec"), (s, ch) => showState("exec", ch));
const tabs = { chat, monitor, exec };

function select(name) {
  if (!tabs[name]) name = "chat";
  current = name;
  for (const btn of document.querySelectorAll("[role=tab]")) {
    const on = btn.dataset.tab === name;
    btn.setAttribute("aria-selected", String(on));
    btn.tabIndex = on ? 0 : -1;
    document.getElementById(btn.getAttribute("aria-controls")).hidden = !on;
  }
  if (name === "chat") {
    unreadCount = 0;
    unread.hidden = true;
  }
  name === "monitor" ? monitor.show() : monitor.hide();
  name === "exec" ? exec.show() : exec.hide();
  showState(name, tabs[name].channel);
  if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
}

for (const btn of document.querySelectorAll("[role=tab]")) {
  btn.addEventListener("click", () => select(btn.dataset.tab));
}
window.addEventListener("hashchange", () => select(location.hash.slice(1)));
// Refresh the retry countdown.
setInterval(() => showState(current, tabs[current].channel), 1000);

chat.start();
select(location.hash.slice(1) || "chat");

// For the browser console and the browser tests.
window.wsdeck = { chat, monitor, exec, select };
