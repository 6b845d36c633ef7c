"""Echo server for wsdeck's interop tests, on python3-websockets (asyncio).

Usage: python3 python_server.py OPTIONS

OPTIONS is "off" for no compression, "null" for the library's
permessage-deflate defaults (it answers with 12-bit windows), or a JSON
object of RFC 7692 parameters (server_no_context_takeover,
client_no_context_takeover, server_max_window_bits,
client_max_window_bits) to impose.

It listens on 127.0.0.1, on a port the system picks, and prints the port on
the first line of standard output. It echoes every message on every
connection: whole, or in four fragments on paths under /echo-frag/. A text
message that starts with "!" is a command instead:

    !ping               ping the client, and send "!pong" when its pong comes
    !close CODE REASON  close the connection with CODE and REASON
    !extensions         send {"response": ..., "agreed": ...}: the
                        Sec-WebSocket-Extensions of the handshake response,
                        and the permessage-deflate parameters in effect
    !frag               echo the next message in four fragments

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
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from python_client import agreed, fragments, response_header

MAX_SIZE = 32 << 20
TIMEOUT = 100


def request_path(ws):
    request = getattr(ws, "request", None)  # websockets >= 13's new API
    return request.path if request is not None else ws.path


async def command(ws, msg, state):
    name, _, arg = msg[1:].partition(" ")
    if name == "ping":
        pong = await ws.ping(b"python")
        await asyncio.wait_for(pong, TIMEOUT)
        await ws.send("!pong")
    elif name == "close":
        code, _, reason = arg.partition(" ")
        await ws.close(int(code), reason)
    elif name == "extensions":
        await ws.send(json.dumps({
            "response": response_header(ws, "Sec-WebSocket-Extensions"),
            "agreed": agreed(ws, client=False),
        }))
    elif name == "frag":
        state["frag"] = True
    else:
        await ws.close(1008, "unknown command " + name)


async def handler(ws):
    path = request_path(ws)
    frag_path = path.startswith("/echo-frag/")
    state = {"frag": False}  # the next echo in fragments
    try:
        async for msg in ws:
            if isinstance(msg, str) and msg.startswith("!"):
                await command(ws, msg, state)
            elif frag_path or state["frag"]:
                await ws.send(fragments(msg))
                state["frag"] = False
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


async def main(options):
    kwargs = {"max_size": MAX_SIZE, "ping_interval": None}
    if options == "off":
        kwargs["compression"] = None
    else:
        options = json.loads(options)
        if options is not None:
            kwargs["extensions"] = [ServerPerMessageDeflateFactory(**options)]
    threading.Thread(target=exit_at_eof, daemon=True).start()
    async with websockets.serve(handler, "127.0.0.1", 0, **kwargs) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
