// permessage-deflate side of wsdeck's interop tests, on Node's ws.
//
// Usage: node node_deflate.js client WS_URL HTTP_URL OPTIONS CASES
//        node node_deflate.js server OPTIONS
//
// It behaves as python_deflate.py. OPTIONS "null" means ws's defaults with
// perMessageDeflate enabled (a client offers client_max_window_bits, a
// server takes the offer as it is); an object of RFC 7692 parameters is
// given to ws as serverNoContextTakeover, clientNoContextTakeover,
// serverMaxWindowBits and clientMaxWindowBits. ws compresses a message
// below its threshold (1024 bytes) only with context takeover.
'use strict';

const WebSocket = require('ws');
const { WebSocketServer } = WebSocket;

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
function perMessageDeflate(json) {
  const o = JSON.parse(json);
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

async function fetchPayload(httpURL, c) {
  const res = await fetch(`${httpURL}/deflate/payload?kind=${c.kind}&size=${c.size}`);
  if (!res.ok) throw new Error(`payload ${c.kind} ${c.size}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

function describe(got, want, wantBinary) {
  if (got.isBinary !== wantBinary) return `got isBinary ${got.isBinary}, want ${wantBinary}`;
  const n = Math.min(got.data.length, want.length);
  let i = 0;
  while (i < n && got.data[i] === want[i]) i++;
  return `got ${got.data.length} bytes, want ${want.length}; first difference at byte ${i}`;
}

// client runs the client's echo, filling in report as it goes.
async function client(report, wsURL, httpURL, options, casesJSON) {
  const cases = JSON.parse(casesJSON);
  const ws = new WebSocket(wsURL, {
    perMessageDeflate: perMessageDeflate(options),
    maxPayload: MAX_PAYLOAD,
  });
  let response = null;
  ws.once('upgrade', (res) => {
    response = res.headers['sec-websocket-extensions'] ?? null;
  });
  const messages = [];
  const waiters = [];
  let error = null;
  ws.on('error', (err) => {
    error = err;
  });
  ws.on('message', (data, isBinary) => {
    const m = { data, isBinary };
    const w = waiters.shift();
    if (w) w.resolve(m);
    else messages.push(m);
  });
  const closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      const ev = { code, reason: reason.toString() };
      for (const w of waiters.splice(0)) {
        w.reject(new Error(`closed (${code} ${ev.reason}) while waiting for a message${error ? `: ${error.message}` : ''}`));
      }
      resolve(ev);
    });
  });
  const next = () =>
    messages.length > 0 ? Promise.resolve(messages.shift()) : new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });

  Object.assign(report, { response, agreed: agreed(ws) });
  for (const [i, c] of cases.entries()) {
    const want = await fetchPayload(httpURL, c);
    const binary = c.kind === 'binary';
    send(ws, want, binary, c.frag);
    const got = await next();
    if (got.isBinary !== binary || !got.data.equals(want)) {
      ws.close(1000);
      Object.assign(report, { error: `case ${JSON.stringify(c)}: ${describe(got, want, binary)}`, checked: i });
      return;
    }
  }
  ws.close(1000);
  Object.assign(report, { checked: cases.length }, await closed);
}

function server(options) {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: perMessageDeflate(options),
    maxPayload: MAX_PAYLOAD,
  });
  let response = null;
  wss.on('headers', (headers) => {
    const h = headers.find((line) => line.toLowerCase().startsWith('sec-websocket-extensions:'));
    response = h ? h.slice(h.indexOf(':') + 1).trim() : null;
  });
  wss.on('listening', () => process.stdout.write(`${wss.address().port}\n`));
  wss.on('connection', (ws, req) => {
    const path = req.url;
    const headerSent = response;
    let frag = false;
    ws.on('message', (data, isBinary) => {
      const command = !isBinary && data.length < 16 ? data.toString() : '';
      if (command === '!extensions') {
        ws.send(JSON.stringify({ response: headerSent, agreed: agreed(ws) }));
        return;
      }
      if (command === '!frag') {
        frag = true;
        return;
      }
      send(ws, data, isBinary, frag);
      frag = false;
    });
    ws.on('error', () => {}); // the close event that follows reports it
    ws.on('close', (code, reason) => {
      process.stdout.write(JSON.stringify({ path, code, reason: reason.toString() }) + '\n');
    });
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'server') {
    server(...args);
    return;
  }
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  const report = { error: '' };
  try {
    await Promise.race([client(report, ...args), timeout]);
  } catch (err) {
    report.error = String(err);
  }
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(report) + '\n', () => process.exit(0));
}

main();
