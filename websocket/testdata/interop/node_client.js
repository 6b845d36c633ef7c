// Client side of wsdeck's interop tests, on Node's ws.
//
// Usage: node node_client.js SCENARIO WS_URL HTTP_URL OPTIONS [ARGS...]
//
// The scenarios (echo CASES, ping, close-by-client CODE REASON,
// close-by-server), OPTIONS and the JSON report on standard output are
// those of python_client.py. OPTIONS "null" means ws's defaults with
// perMessageDeflate enabled (it offers client_max_window_bits); an object
// of RFC 7692 parameters is given to ws as serverNoContextTakeover,
// clientNoContextTakeover, serverMaxWindowBits and clientMaxWindowBits.
// Fragmented messages are sent with send(piece, {fin}), cut at byte
// offsets, so text fragments split UTF-8 sequences.
'use strict';

const WebSocket = require('ws');

const MAX_PAYLOAD = 32 << 20;
const TIMEOUT_MS = 100000;

// fragments cuts buf into four uneven pieces, where wsdeck's tests cut their
// own fragmented messages. The cuts may fall inside a UTF-8 sequence.
function fragments(buf) {
  const n = buf.length;
  const cuts = [0, Math.floor(n / 7), Math.floor(n / 2), Math.floor((n * 6) / 7), n];
  return cuts.slice(1).map((end, i) => buf.subarray(cuts[i], end));
}

function send(ws, data, isBinary, frag) {
  if (!frag) {
    ws.send(data, { binary: isBinary });
    return;
  }
  const pieces = fragments(data);
  pieces.forEach((p, i) => ws.send(p, { binary: isBinary, fin: i === pieces.length - 1 }));
}

// perMessageDeflate turns OPTIONS into ws's perMessageDeflate option.
function perMessageDeflate(options) {
  if (options === 'off') return false;
  const o = JSON.parse(options);
  if (o === null) return true;
  const opts = {};
  if (o.server_no_context_takeover) opts.serverNoContextTakeover = true;
  if (o.client_no_context_takeover) opts.clientNoContextTakeover = true;
  if (o.server_max_window_bits) opts.serverMaxWindowBits = o.server_max_window_bits;
  if (o.client_max_window_bits) opts.clientMaxWindowBits = o.client_max_window_bits;
  return opts;
}

// agreed returns the permessage-deflate parameters in effect on ws, named
// as in RFC 7692, or null if it was not agreed.
function agreed(ws) {
  const ext = ws._extensions['permessage-deflate'];
  if (!ext) return null;
  const p = ext.params;
  return {
    server_no_context_takeover: !!p.server_no_context_takeover,
    client_no_context_takeover: !!p.client_no_context_takeover,
    server_max_window_bits: typeof p.server_max_window_bits === 'number' ? p.server_max_window_bits : 15,
    client_max_window_bits: typeof p.client_max_window_bits === 'number' ? p.client_max_window_bits : 15,
  };
}

// Peer wraps a ws client with a queue of received messages and a promise of
// its close event.
class Peer {
  constructor(ws) {
    this.ws = ws;
    this.messages = [];
    this.waiters = [];
    this.error = null;
    this.response = null;
    ws.once('upgrade', (res) => {
      this.response = res.headers['sec-websocket-extensions'] ?? null;
    });
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
}

function connect(wsURL, options) {
  const ws = new WebSocket(wsURL, {
    perMessageDeflate: perMessageDeflate(options),
    maxPayload: MAX_PAYLOAD,
  });
  const peer = new Peer(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(peer));
    ws.once('error', reject);
  });
}

async function fetchPayload(httpURL, c) {
  const res = await fetch(`${httpURL}/payload?type=${c.type}&size=${c.size}`);
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

// The scenarios fill in report as they go.
const scenarios = {
  async echo(report, wsURL, httpURL, options, casesJSON) {
    const cases = JSON.parse(casesJSON);
    const peer = await connect(wsURL, options);
    Object.assign(report, { response: peer.response, agreed: agreed(peer.ws) });
    for (const [i, c] of cases.entries()) {
      const want = await fetchPayload(httpURL, c);
      const binary = c.type === 'binary';
      send(peer.ws, want, binary, c.frag);
      const got = await peer.next();
      if (got.isBinary !== binary || !got.data.equals(want)) {
        peer.ws.close(1000);
        Object.assign(report, { error: `case ${JSON.stringify(c)}: ${describe(got, want, binary)}`, checked: i });
        return;
      }
    }
    peer.ws.close(1000);
    Object.assign(report, { checked: cases.length }, await peer.closed);
  },

  async ping(report, wsURL, httpURL, options) {
    const peer = await connect(wsURL, options);
    const pong = new Promise((resolve) => peer.ws.once('pong', resolve));
    peer.ws.ping(Buffer.from('node'));
    await pong;
    const m = await peer.next();
    if (m.isBinary || m.data.toString() !== '!pinged') {
      report.error = `got ${JSON.stringify(m.data.toString())}, want "!pinged"`;
      return;
    }
    peer.ws.close(1000);
    Object.assign(report, await peer.closed);
  },

  async 'close-by-client'(report, wsURL, httpURL, options, code, reason) {
    const peer = await connect(wsURL, options);
    peer.ws.close(Number(code), reason);
    Object.assign(report, await peer.closed);
  },

  async 'close-by-server'(report, wsURL, httpURL, options) {
    const peer = await connect(wsURL, options);
    const ev = await peer.closed;
    if (peer.messages.length > 0) {
      report.error = `got ${peer.messages.length} messages, want the server's close`;
      return;
    }
    Object.assign(report, ev);
  },
};

async function main() {
  const [scenario, ...args] = process.argv.slice(2);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  const report = { error: '' };
  try {
    await Promise.race([scenarios[scenario](report, ...args), timeout]);
  } catch (err) {
    report.error = String(err);
  }
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(report) + '\n', () => process.exit(0));
}

if (require.main === module) main();

module.exports = { agreed, fragments, perMessageDeflate, send };
