// Channel is a WebSocket to one console endpoint that speaks JSON messages
// with a "type" field, and reconnects by itself with exponential backoff
// and jitter until it is stopped, or until the server says it will not
// take this page.
//
// States: "idle" (not started or stopped), "connecting", "open",
// "offline" (waiting to retry), "full" (refused by the server's connection
// caps: waiting longer to retry), and "ended" (logged out, or refused: no
// more retries). channel.why names the cause of the last three ("network",
// "full", "logged_out", "refused") and channel.reason says it in words.
//
// A page cannot read the status of a refused WebSocket handshake (the
// browser reports only a close with 1006). So when a socket fails before it
// opens, or is closed with CLOSE_SESSION_ENDED, the Channel asks the
// server with a plain GET of the same URL, which runs the handshake's
// checks in the same order: 403 (Host or Origin refused), 401 (logged
// out), 503 (too many connections; the Wsdeck-Limit header says whose),
// and 426 Upgrade Required when all would pass.

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
const FULL_BACKOFF_FIRST_MS = 5000;
const FULL_BACKOFF_MAX_MS = 60000;

// CLOSE_SESSION_ENDED is the close code of a socket whose login session
// ended (docs/protocol.md).
export const CLOSE_SESSION_ENDED = 4401;

const LOGGED_OUT = "Logged out: log in again";

// session tells the page when its login session has ended: an "ended"
// event, after which session.ended holds the message. Every Channel stops
// then, for they all share the session's cookie.
export const session = new EventTarget();
session.ended = null;

// endSession marks the page's session as ended, once.
export function endSession(message = LOGGED_OUT) {
  if (session.ended) return;
  session.ended = message;
  session.dispatchEvent(new Event("ended"));
}

export class Channel {
  // path: "/ws/chat"; params(): the query for the next connection;
  // onMessage(msg, channel); onState(state, channel).
  constructor(path, { params = () => ({}), onMessage = () => {}, onOpen = () => {}, onState = () => {} } = {}) {
    this.path = path;
    this.params = params;
    this.onMessage = onMessage;
    this.onOpen = onOpen;
    this.onState = onState;
    this.ws = null;
    this.state = "idle";
    this.why = "";          // the cause of "offline", "full" or "ended"
    this.reason = "";       // the same in words, for the page
    this.attempt = 0;       // failures since the last good connection
    this.fullAttempt = 0;   // refusals for the caps since then
    this.timer = null;
    this.retryAt = 0;
    this.connects = 0;      // connections opened, for the curious and for tests
    this.probes = 0;        // diagnosing GETs sent, likewise
    this.lastClose = null;  // {code, reason} of the last close
    this.lastProbe = null;  // {status, limit} of the last diagnosing GET
    this.wanted = false;
    window.addEventListener("online", () => {
      if (this.wanted && (this.state === "offline" || this.state === "full")) this.connectNow();
    });
    session.addEventListener("ended", () => this.end("logged_out", session.ended));
  }

  url() {
    const u = new URL(this.path, location.href);
    u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    for (const [k, v] of Object.entries(this.params())) {
      if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
    }
    return u.toString();
  }

  start() {
    this.wanted = true;
    if (session.ended) {
      this.end("logged_out", session.ended);
      return;
    }
    if (this.state === "idle") this.connectNow();
  }

  stop() {
    this.wanted = false;
    this.drop(1000, "tab closed");
    this.setState("idle");
  }

  // end stops the channel for good: the server will not take this page.
  end(why, reason) {
    this.drop(1000, "ended");
    this.why = why;
    this.reason = reason;
    this.setState("ended");
  }

  drop(code, reason) {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      ws.close(code, reason);
    }
  }

  connectNow() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws || session.ended) return;
    this.setState("connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    let opened = false;
    let greeted = false;
    ws.onopen = () => {
      opened = true;
      this.connects++;
      this.why = this.reason = "";
      this.setState("open");
      this.onOpen(this);
    };
    ws.onmessage = (ev) => {
      if (!greeted) {
        greeted = true;
        this.attempt = 0; // the server took us in: back off from scratch next time
        this.fullAttempt = 0;
      }
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        console.warn("wsdeck: not JSON from", this.path, e);
        return;
      }
      this.onMessage(msg, this);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.lastClose = { code: ev.code, reason: ev.reason };
      if (!this.wanted) {
        this.setState("idle");
        return;
      }
      if (!opened || ev.code === CLOSE_SESSION_ENDED) {
        this.diagnose(ws.url, ev.code === CLOSE_SESSION_ENDED);
        return;
      }
      this.scheduleRetry();
    };
  }

  // diagnose asks the server why a socket failed, and acts on the answer.
  async diagnose(wsURL, sessionEnded) {
    const u = new URL(wsURL);
    u.protocol = location.protocol;
    this.probes++;
    let resp;
    let text = "";
    try {
      resp = await fetch(u, { credentials: "same-origin", cache: "no-store" });
      text = (await resp.text()).trim();
    } catch (e) {
      // Unreachable: the network, or the server is down or restarting.
      if (!this.wanted || this.ws) return;
      if (sessionEnded) endSession();
      else this.scheduleRetry();
      return;
    }
    if (!this.wanted || this.ws || this.state === "ended") return; // stopped or reconnected meanwhile
    const limit = resp.headers.get("Wsdeck-Limit") || "";
    this.lastProbe = { status: resp.status, limit };
    switch (resp.status) {
      case 401:
        endSession();
        return;
      case 403:
        this.end("refused", `Refused by the server (${text.replace(/^wsdeck: /, "").slice(0, 300)})`);
        return;
      case 503: {
        const whose = limit === "client" ? "from you" : "in all";
        const after = Number(resp.headers.get("Retry-After")) * 1000 || FULL_BACKOFF_FIRST_MS;
        this.scheduleRetry("full", `Server full: too many connections (${whose})`, after);
        return;
      }
    }
    // 426: the server would take this socket now (a new login in this
    // browser replaced the session, a slot came free, a restart).
    this.scheduleRetry();
  }

  // scheduleRetry waits, then connects again: with exponential backoff
  // from BACKOFF_FIRST_MS, or, when the server is full, from its
  // Retry-After (at least FULL_BACKOFF_FIRST_MS) up to FULL_BACKOFF_MAX_MS.
  scheduleRetry(why = "network", reason = "", firstMs = 0) {
    let base;
    if (why === "full") {
      base = Math.min(FULL_BACKOFF_MAX_MS, Math.max(firstMs, FULL_BACKOFF_FIRST_MS) * 2 ** this.fullAttempt);
      this.fullAttempt++;
    } else {
      base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
      this.attempt++;
    }
    const delay = Math.round(base * (0.7 + 0.6 * Math.random()));
    this.retryAt = Date.now() + delay;
    this.why = why;
    this.reason = reason;
    this.setState(why === "full" ? "full" : "offline");
    this.timer = setTimeout(() => this.connectNow(), delay);
  }

  // send sends msg as JSON, and reports whether the socket was open.
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  setState(state) {
    this.state = state;
    this.onState(state, this);
  }
}
