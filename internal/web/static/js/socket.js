// Channel is a WebSocket to one console endpoint that speaks JSON messages
// with a "type" field, and reconnects by itself with exponential backoff
// and jitter until it is stopped.
//
// States: "idle" (not started or stopped), "connecting", "open", and
// "offline" (waiting to retry).

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;

export class Channel {
  // path: "/ws/chat"; params(): the query for the next connection;
  // onMessage(msg, channel); onState(state, detail).
  constructor(path, { params = () => ({}), onMessage = () => {}, onOpen = () => {}, onState = () => {} } = {}) {
    this.path = path;
    this.params = params;
    this.onMessage = onMessage;
    this.onOpen = onOpen;
    this.onState = onState;
    this.ws = null;
    this.state = "idle";
    this.attempt = 0;       // failures since the last good connection
    this.timer = null;
    this.retryAt = 0;
    this.connects = 0;      // connections opened, for the curious and for tests
    this.lastClose = null;  // {code, reason} of the last close
    this.wanted = false;
    window.addEventListener("online", () => { if (this.wanted && this.state === "offline") this.connectNow(); });
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
    if (this.state === "idle") this.connectNow();
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      ws.close(1000, "tab closed");
    }
    this.setState("idle");
  }

  connectNow() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) return;
    this.setState("connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    let greeted = false;
    ws.onopen = () => {
      this.connects++;
      this.setState("open");
      this.onOpen(this);
    };
    ws.onmessage = (ev) => {
      if (!greeted) {
        greeted = true;
        this.attempt = 0; // the server took us in: back off from scratch next time
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
      this.scheduleRetry();
    };
  }

  scheduleRetry() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.7 + 0.6 * Math.random()));
    this.attempt++;
    this.retryAt = Date.now() + delay;
    this.setState("offline");
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
