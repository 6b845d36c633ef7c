// The console page: three tabs (Chat, Monitor, Exec), and Sessions for
// admins, a connection indicator for the shown tab's socket, who is
// logged in, and Log out. Chat stays connected in the background; Monitor
// and Exec connect only while shown. When the login session ends (here,
// in another tab, or on the server: logout, expiry, revoked by an admin),
// every socket stops, and the page goes to the login page in team mode,
// or says how to log in again with the token.

import { Chat } from "./chat.js";
import { Monitor } from "./monitor.js";
import { Exec } from "./exec.js";
import { Shell } from "./shell.js";
import { Sessions } from "./sessions.js";
import { Recordings } from "./replay.js";
import { session, endSession } from "./socket.js";

const conn = document.getElementById("conn");
const connLabel = document.getElementById("conn-label");
const unread = document.getElementById("unread");
const logoutBtn = document.getElementById("logout");
const sessionNotice = document.getElementById("session-notice");
const whoami = document.getElementById("whoami");
// Who is logged in (GET /api/me); team is true in team mode.
let me = { team: false };
let current = "chat";
let unreadCount = 0;

const labels = { idle: "idle", connecting: "connecting…", open: "connected", offline: "offline" };

function showState(tab, channel) {
  if (tab !== current) return;
  // "full" shows as offline, "ended" as closed (both red).
  conn.dataset.state = { full: "offline", ended: "closed" }[channel.state] || channel.state;
  conn.dataset.why = channel.why;
  let label = labels[channel.state] || channel.state;
  const secs = Math.max(0, Math.round((channel.retryAt - Date.now()) / 1000));
  if (channel.state === "offline") {
    label = `offline, retrying in ${secs} s`;
    if (channel.lastClose?.code) conn.title = `closed: ${channel.lastClose.code} ${channel.lastClose.reason}`;
  } else if (channel.state === "full") {
    label = `${channel.reason}, retrying in ${secs} s`;
    conn.title = "The server refused the connection: too many are open. Close other tabs of this console, or wait.";
  } else if (channel.state === "ended") {
    label = channel.reason;
    conn.title = "";
  } else {
    conn.title = "";
  }
  connLabel.textContent = label;
}

// The session ended: say how to log in again, in place of Log out.
session.addEventListener("ended", () => {
  if (me.team) {
    location.replace("/login");
    return;
  }
  sessionNotice.textContent = `${session.ended}. Open the login URL that wsdeck printed when it started ` +
    `(${location.origin}/?token=…), or ask whoever runs it for one.`;
  sessionNotice.hidden = false;
  logoutBtn.hidden = true;
});

logoutBtn.addEventListener("click", async () => {
  logoutBtn.disabled = true;
  try {
    const resp = await fetch("/logout", { method: "POST", credentials: "same-origin", cache: "no-store" });
    if (!resp.ok) throw new Error(`${resp.status}: ${(await resp.text()).trim()}`);
    endSession(); // the server closes this session's sockets with 4401 too
    if (me.team) location.replace("/login");
  } catch (e) {
    logoutBtn.disabled = false;
    sessionNotice.textContent = `Log out failed: ${e.message}`;
    sessionNotice.hidden = false;
  }
});

const chat = new Chat(document.getElementById("panel-chat"), (s, ch) => showState("chat", ch), () => {
  if (current === "chat") return;
  unreadCount++;
  unread.textContent = String(unreadCount);
  unread.hidden = false;
});
const monitor = new Monitor(document.getElementById("panel-monitor"), (s, ch) => showState("monitor", ch));
const exec = new Exec(document.getElementById("panel-exec"), (s, ch) => showState("exec", ch));
const shell = new Shell(document.getElementById("panel-shell"), (s, ch) => showState("shell", ch));
const sessions = new Sessions(document.getElementById("panel-sessions"), chat.channel);
const recordings = new Recordings(document.getElementById("panel-recordings"));
recordings.channel = chat.channel; // no socket of its own
const tabs = { chat, monitor, exec, shell, sessions, recordings };

function select(name) {
  if (!tabs[name] || document.getElementById("tab-" + name).hidden) name = "chat";
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
  name === "shell" ? shell.show() : shell.hide();
  name === "sessions" ? sessions.show() : sessions.hide();
  name === "recordings" ? recordings.show() : recordings.hide();
  showState(name, tabs[name].channel);
  if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
}

for (const btn of document.querySelectorAll("[role=tab]")) {
  btn.addEventListener("click", () => select(btn.dataset.tab));
}
window.addEventListener("hashchange", () => select(location.hash.slice(1)));
// Refresh the retry countdown.
setInterval(() => showState(current, tabs[current].channel), 1000);

// showMe puts who is logged in in the header, and the Sessions tab for
// an admin in team mode.
async function showMe() {
  try {
    const resp = await fetch("/api/me", { credentials: "same-origin", cache: "no-store" });
    if (!resp.ok) return;
    me = await resp.json();
  } catch {
    return;
  }
  window.wsdeck.me = me;
  if (session.ended && me.team) location.replace("/login");
  document.getElementById("whoami-user").textContent = me.user;
  document.getElementById("whoami-role").textContent = me.role;
  whoami.title = `logged in as ${me.user} (${me.role}) by ${me.method}`;
  whoami.hidden = false;
  document.getElementById("tab-sessions").hidden = !(me.team && me.role === "admin");
  if (location.hash === "#sessions") select("sessions");
  // Recordings: operators see their own sessions', admins all (the server checks).
  document.getElementById("tab-recordings").hidden = me.role === "viewer";
  if (location.hash === "#recordings") select("recordings");
}

chat.start();
select(location.hash.slice(1) || "chat");

// For the browser console and the browser tests.
window.wsdeck = { chat, monitor, exec, shell, sessions, recordings, select, me };
showMe();
