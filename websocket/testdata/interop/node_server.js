// Echo server for wsdeck's interop tests, on Node's ws.
//
// Usage: node node_server.js
//
// It behaves as python_server.py: it listens on 127.0.0.1 on a port the
// system picks and prints the port on the first line of standard output;
// echoes messages whole under /echo/ and in four fragments under /echo-frag/;
// takes the commands "!ping" and "!close CODE REASON"; prints
// {"path", "code", "reason"} as a JSON line when a connection ends; and
// exits when its standard input ends.
'use strict';

const { WebSocketServer } = require('ws');

const MAX_PAYLOAD = 32 << 20;

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

function command(ws, msg) {
  const [name, ...args] = msg.slice(1).split(' ');
  switch (name) {
    case 'ping':
      ws.once('pong', () => ws.send('!pong'));
      ws.ping(Buffer.from('node'));
      break;
    case 'close':
      ws.close(Number(args[0]), args.slice(1).join(' '));
      break;
    default:
      ws.close(1008, `unknown command ${name}`);
  }
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: false,
  maxPayload: MAX_PAYLOAD,
});

wss.on('listening', () => process.stdout.write(`${wss.address().port}\n`));

wss.on('connection', (ws, req) => {
  const path = req.url;
  const frag = path.startsWith('/echo-frag/');
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data[0] === 0x21 /* ! */) {
      command(ws, data.toString());
      return;
    }
    send(ws, data, isBinary, frag);
  });
  ws.on('error', () => {}); // the close event that follows reports it
  ws.on('close', (code, reason) => {
    process.stdout.write(JSON.stringify({ path, code, reason: reason.toString() }) + '\n');
  });
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
