// Client side of wsdeck's interop tests, on Node's ws.
//
// Usage: node node_client.js SCENARIO URL [ARGS...]
//
// The scenarios (echo CASES, ping, close-by-client CODE REASON,
// close-by-server) and the JSON report on standard output are those of
// python_client.py. Fragmented messages are sent with send(piece, {fin}),
// cut at byte offsets, so text fragments split UTF-8 sequences.
'use strict';

const WebSocket = require('ws');

const MAX_PAYLOAD = 32 << 20;
const TIMEOUT_MS = 100000;

// fragments cuts buf into four uneven pieces, where wsdeck's tests cut their
// own fragmented messages.
function fragments(buf) {
  const n = buf.length;
  const cuts = [0, Math.floor(n / 7), Math.floor(n / 2), Math.floor((n * 6) / 7), n];
  return cuts.slice(1).map((end, i) => buf.subarray(cuts[i], end));
}

// Peer wraps a ws client with a queue of received messages and a promise of
// its close event.
class Peer {
  constructor(ws) {
    this.ws = ws;
    this.messages = [];
    this.waiters = [];
    this.error = null;
    ws.on('error', (err) => {
      this.error = err;
    });
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      const w = this.waiters.shift();
      if (w) w.resolve(m);
      else this.messages.push(m);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        const ev = { code, reason: reason.toString() };
        for (const w of this.waiters.splice(0)) {
          w.reject(new Error(`closed (${code} ${ev.reason}) while waiting for a message${this.error ? `: ${this.error.message}` : ''}`));
        }
        resolve(ev);
      });
    });
  }

  next() {
    if (this.messages.length > 0) return Promise.resolve(this.messages.shift());
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  send(data, isBinary, frag) {
    if (!frag) {
      this.ws.send(data, { binary: isBinary });
      return;
    }
    const pieces = fragments(data);
    pieces.forEach((p, i) => this.ws.send(p, { binary: isBinary, fin: i === pieces.length - 1 }));
  }
}

function connect(url, scenario) {
  const ws = new WebSocket(`ws${url.slice('http'.length)}/ws/${scenario}`, {
    perMessageDeflate: false,
    maxPayload: MAX_PAYLOAD,
  });
  const peer = new Peer(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(peer));
    ws.once('error', reject);
  });
}

async function fetchPayload(url, c) {
  const res = await fetch(`${url}/payload?type=${c.type}&size=${c.size}`);
  if (!res.ok) throw new Error(`payload ${c.type} ${c.size}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

function describe(got, want, wantBinary) {
  if (got.isBinary !== wantBinary) return `got isBinary ${got.isBinary}, want ${wantBinary}`;
  const n = Math.min(got.data.length, want.length);
  let i = 0;
  while (i < n && got.data[i] === want[i]) i++;
  return `got ${got.data.length} bytes, want ${want.length}; first difference at byte ${i}`;
}

const scenarios = {
  async echo(url, casesJSON) {
    const cases = JSON.parse(casesJSON);
    const peer = await connect(url, 'echo');
    for (const [i, c] of cases.entries()) {
      const want = await fetchPayload(url, c);
      const binary = c.type === 'binary';
      peer.send(want, binary, c.frag);
      const got = await peer.next();
      if (got.isBinary !== binary || !got.data.equals(want)) {
        peer.ws.close(1000);
        return { error: `case ${JSON.stringify(c)}: ${describe(got, want, binary)}`, checked: i };
      }
    }
    peer.ws.close(1000);
    return { checked: cases.length, ...(await peer.closed) };
  },

  async ping(url) {
    const peer = await connect(url, 'ping');
    const pong = new Promise((resolve) => peer.ws.once('pong', resolve));
    peer.ws.ping(Buffer.from('node'));
    await pong;
    const m = await peer.next();
    if (m.isBinary || m.data.toString() !== '!pinged') {
      return { error: `got ${JSON.stringify(m.data.toString())}, want "!pinged"` };
    }
    peer.ws.close(1000);
    return await peer.closed;
  },

  async 'close-by-client'(url, code, reason) {
    const peer = await connect(url, 'close-by-client');
    peer.ws.close(Number(code), reason);
    return await peer.closed;
  },

  async 'close-by-server'(url) {
    const peer = await connect(url, 'close-by-server');
    const ev = await peer.closed;
    if (peer.messages.length > 0) return { error: `got ${peer.messages.length} messages, want the server's close` };
    return ev;
  },
};

async function main() {
  const [scenario, url, ...args] = process.argv.slice(2);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  let report;
  try {
    report = { error: '', ...(await Promise.race([scenarios[scenario](url, ...args), timeout])) };
  } catch (err) {
    report = { error: String(err) };
  }
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(report) + '\n', () => process.exit(0));
}

main();
