// Echo server for wsdeck's interop tests, on Node's ws.
//
// Usage: node node_server.js OPTIONS
//
// It behaves as python_server.py: OPTIONS as node_client.js takes them
// (a server takes an offer of ws's defaults as it is); it listens on
// 127.0.0.1 on a port the system picks and prints the port on the first
// line of standard output; echoes messages whole, or in four fragments
// under /echo-frag/ or after "!frag"; takes the commands "!ping",
// "!close CODE REASON", "!extensions" and "!frag"; prints
// {"path", "code", "reason"} as a JSON line when a connection ends; and
// exits when its standard input ends. ws compresses a message below its
// threshold (1024 bytes) only with context takeover.
'use strict';

const { WebSocketServer } = require('ws');
const { agreed, perMessageDeflate, send } = require('./node_client.js');

const MAX_PAYLOAD = 32 << 20;

// command runs a command; state.frag is whether the next echo goes in
// fragments.
function command(ws, msg, state, response) {
  const [name, ...args] = msg.slice(1).split(' ');
  switch (name) {
    case 'ping':
      ws.once('pong', () => ws.send('!pong'));
      ws.ping(Buffer.from('node'));
      break;
    case 'close':
      ws.close(Number(args[0]), args.slice(1).join(' '));
      break;
    case 'extensions':
      ws.send(JSON.stringify({ response, agreed: agreed(ws) }));
      break;
    case 'frag':
      state.frag = true;
      break;
    default:
      ws.close(1008, `unknown command ${name}`);
  }
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: perMessageDeflate(process.argv[2]),
  maxPayload: MAX_PAYLOAD,
});

let lastResponse = null; // the Sec-WebSocket-Extensions of the last handshake response
wss.on('headers', (headers) => {
  const h = headers.find((line) => line.toLowerCase().startsWith('sec-websocket-extensions:'));
  lastResponse = h ? h.slice(h.indexOf(':') + 1).trim() : null;
});

wss.on('listening', () => process.stdout.write(`${wss.address().port}\n`));

wss.on('connection', (ws, req) => {
  const path = req.url;
  const response = lastResponse;
  const fragPath = path.startsWith('/echo-frag/');
  const state = { frag: false };
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data[0] === 0x21 /* ! */) {
      command(ws, data.toString(), state, response);
      return;
    }
    send(ws, data, isBinary, fragPath || state.frag);
    state.frag = false;
  });
  ws.on('error', () => {}); // the close event that follows reports it
  ws.on('close', (code, reason) => {
    process.stdout.write(JSON.stringify({ path, code, reason: reason.toString() }) + '\n');
  });
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
