"""permessage-deflate side of wsdeck's interop tests, on python3-websockets.

Usage: python3 python_deflate.py client WS_URL HTTP_URL OPTIONS CASES
       python3 python_deflate.py server OPTIONS

OPTIONS is "null" for the library's defaults (compression="deflate": a
client offers permessage-deflate with client_max_window_bits, a server
answers with 12-bit windows), or a JSON object of RFC 7692 parameters
(server_no_context_takeover, client_no_context_takeover,
server_max_window_bits, client_max_window_bits) that a client offers and a
server imposes.

client: connects to WS_URL, then for each case of the JSON list CASES,
{"kind": "json" or "binary", "size": N, "frag": BOOL}, fetches the message
from HTTP_URL/deflate/payload, sends it (in four fragments if frag, each
compressed on its own) and checks the echo byte for byte; then closes with
1000. It prints one JSON line: {"error": "" or the first thing that went
wrong, "checked": echoes checked, "code" and "reason" of the close frame
received, "response": the Sec-WebSocket-Extensions of the handshake
response, "agreed": the permessage-deflate parameters in effect}.

server: listens on 127.0.0.1, on a port the system picks, and prints the
port on the first line of standard output. It echoes every message on
every connection. Text messages starting with "!" are commands:

    !extensions  send {"response": ..., "agreed": ...}, as the client prints
    !frag        echo the next message in four fragments

When a connection ends, it prints {"path", "code", "reason"} as a JSON line.
It exits when its standard input ends.
"""

import asyncio
import json
import os
import sys
import threading
import urllib.request

import websockets
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)

MAX_SIZE = 32 << 20
TIMEOUT = 100


def fragments(data):
    """Cuts data (str or bytes) into four uneven pieces, where wsdeck's
    tests cut their own fragmented messages."""
    n = len(data)
    cuts = [0, n // 7, n // 2, n * 6 // 7, n]
    return [data[a:b] for a, b in zip(cuts, cuts[1:])]


def agreed(ws, client):
    """The permessage-deflate parameters in effect on ws, named as in RFC
    7692, or None if it was not agreed."""
    for ext in ws.extensions:
        if isinstance(ext, PerMessageDeflate):
            server, local = ("remote", "local") if client else ("local", "remote")
            return {
                "server_no_context_takeover": getattr(ext, server + "_no_context_takeover"),
                "client_no_context_takeover": getattr(ext, local + "_no_context_takeover"),
                "server_max_window_bits": getattr(ext, server + "_max_window_bits"),
                "client_max_window_bits": getattr(ext, local + "_max_window_bits"),
            }
    return None


def describe(got, want):
    if type(got) is not type(want):
        return f"got a {type(got).__name__} message, want {type(want).__name__}"
    n = min(len(got), len(want))
    i = next((i for i in range(n) if got[i] != want[i]), n)
    return f"got {len(got)} items, want {len(want)}; first difference at {i}"


def fetch(http_url, case):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    query = f"/deflate/payload?kind={case['kind']}&size={case['size']}"
    with opener.open(http_url + query) as resp:
        body = resp.read()
    return body if case["kind"] == "binary" else body.decode("utf-8")


async def client(report, ws_url, http_url, options, cases):
    """Runs the client's echo, filling in report as it goes."""
    options = json.loads(options)
    cases = json.loads(cases)
    extensions = None
    if options is not None:
        options.setdefault("client_max_window_bits", True)
        extensions = [ClientPerMessageDeflateFactory(**options)]
    async with websockets.connect(
        ws_url,
        extensions=extensions,
        max_size=MAX_SIZE,
        ping_interval=None,
        open_timeout=TIMEOUT,
    ) as ws:
        report["response"] = ws.response_headers.get("Sec-WebSocket-Extensions")
        report["agreed"] = agreed(ws, client=True)
        for i, case in enumerate(cases):
            want = await asyncio.to_thread(fetch, http_url, case)
            await ws.send(fragments(want) if case["frag"] else want)
            got = await ws.recv()
            if got != want:
                report["error"] = f"case {case}: {describe(got, want)}"
                report["checked"] = i
                return
    report.update(checked=len(cases), code=ws.close_code, reason=ws.close_reason)


async def handler(ws):
    path = ws.path
    frag = False
    try:
        async for msg in ws:
            if msg == "!extensions":
                await ws.send(json.dumps({
                    "response": ws.response_headers.get("Sec-WebSocket-Extensions"),
                    "agreed": agreed(ws, client=False),
                }))
            elif msg == "!frag":
                frag = True
            elif frag:
                await ws.send(fragments(msg))
                frag = False
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


async def server(options):
    options = json.loads(options)
    extensions = None
    if options is not None:
        extensions = [ServerPerMessageDeflateFactory(**options)]
    threading.Thread(target=exit_at_eof, daemon=True).start()
    async with websockets.serve(
        handler,
        "127.0.0.1",
        0,
        extensions=extensions,
        max_size=MAX_SIZE,
        ping_interval=None,
    ) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


def main():
    mode, *args = sys.argv[1:]
    if mode == "server":
        asyncio.run(server(*args))
        return
    report = {"error": ""}
    try:
        asyncio.run(asyncio.wait_for(client(report, *args), TIMEOUT))
    except Exception as e:
        report["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
