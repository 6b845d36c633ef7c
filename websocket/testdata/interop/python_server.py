"""Echo server for wsdeck's interop tests, on python3-websockets (asyncio).

Usage: python3 python_server.py

It listens on 127.0.0.1, on a port the system picks, and prints the port on
the first line of standard output. It echoes every message on every
connection: whole on paths under /echo/, in four fragments on paths under
/echo-frag/. A text message that starts with "!" is a command instead:

    !ping               ping the client, and send "!pong" when its pong comes
    !close CODE REASON  close the connection with CODE and REASON

When a connection ends, it prints a JSON line with the path and the close
code and reason it received: {"path": ..., "code": ..., "reason": ...}
(code 1006 if no close frame came). It exits when its standard input ends.
"""

import asyncio
import json
import os
import sys
import threading

import websockets

MAX_SIZE = 32 << 20
TIMEOUT = 100


def fragments(data):
    """Cuts data (str or bytes) into four uneven pieces, where wsdeck's
    tests cut their own fragmented messages."""
    n = len(data)
    cuts = [0, n // 7, n // 2, n * 6 // 7, n]
    return [data[a:b] for a, b in zip(cuts, cuts[1:])]


def request_path(ws):
    request = getattr(ws, "request", None)  # websockets >= 13's new API
    return request.path if request is not None else ws.path


async def command(ws, msg):
    name, _, arg = msg[1:].partition(" ")
    if name == "ping":
        pong = await ws.ping(b"python")
        await asyncio.wait_for(pong, TIMEOUT)
        await ws.send("!pong")
    elif name == "close":
        code, _, reason = arg.partition(" ")
        await ws.close(int(code), reason)
    else:
        await ws.close(1008, "unknown command " + name)


async def handler(ws):
    path = request_path(ws)
    frag = path.startswith("/echo-frag/")
    try:
        async for msg in ws:
            if isinstance(msg, str) and msg.startswith("!"):
                await command(ws, msg)
            elif frag:
                await ws.send(fragments(msg))
            else:
                await ws.send(msg)
    except websockets.exceptions.ConnectionClosed:
        pass
    await ws.wait_closed()
    report = {"path": path, "code": ws.close_code, "reason": ws.close_reason}
    print(json.dumps(report), flush=True)


def exit_at_eof():
    """Ends the process when standard input ends: the test that started it
    is gone."""
    sys.stdin.read()
    os._exit(0)


async def main():
    threading.Thread(target=exit_at_eof, daemon=True).start()
    async with websockets.serve(
        handler,
        "127.0.0.1",
        0,
        compression=None,
        max_size=MAX_SIZE,
        ping_interval=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
