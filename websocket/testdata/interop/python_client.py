"""Client side of wsdeck's interop tests, on python3-websockets (asyncio).

Usage: python3 python_client.py SCENARIO WS_URL HTTP_URL OPTIONS [ARGS...]

It runs one scenario against the Go test server's endpoint WS_URL, with the
messages' content from HTTP_URL/payload, and prints a JSON report on one
line of standard output: {"error": ...} names the first thing that went
wrong, "" if none; "checked" counts the echoes checked; "code" and "reason"
are the close frame received; "response" is the Sec-WebSocket-Extensions of
the handshake response and "agreed" the permessage-deflate parameters in
effect (null if none).

OPTIONS is "off" for no compression, "null" for the library's
permessage-deflate defaults (it offers client_max_window_bits), or a JSON
object of RFC 7692 parameters (server_no_context_takeover,
client_no_context_takeover, server_max_window_bits,
client_max_window_bits) to offer.

    echo CASES      for each case of the JSON list CASES, {"type": "text",
                    "json" or "binary", "size": N, "frag": BOOL}: fetch the
                    payload, send it (in four fragments if frag, each
                    compressed on its own with permessage-deflate), and check
                    the echo byte for byte; then close with 1000
    ping            ping the server and wait for the pong, then wait for the
                    server's "!pinged" (its ping was answered)
    close-by-client CODE REASON
                    close with CODE and REASON
    close-by-server wait for the server to close
"""

import asyncio
import json
import sys
import urllib.request

import websockets
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
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


def response_header(ws, name):
    response = getattr(ws, "response", None)  # websockets >= 13's new API
    headers = response.headers if response is not None else ws.response_headers
    return headers.get(name)


def connect(ws_url, options):
    kwargs = {"max_size": MAX_SIZE, "ping_interval": None, "open_timeout": TIMEOUT}
    if options == "off":
        kwargs["compression"] = None
    else:
        options = json.loads(options)
        if options is not None:
            options.setdefault("client_max_window_bits", True)
            kwargs["extensions"] = [ClientPerMessageDeflateFactory(**options)]
    return websockets.connect(ws_url, **kwargs)


def extensions(ws):
    return {
        "response": response_header(ws, "Sec-WebSocket-Extensions"),
        "agreed": agreed(ws, client=True),
    }


def fetch(http_url, case):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    query = f"/payload?type={case['type']}&size={case['size']}"
    with opener.open(http_url + query) as resp:
        body = resp.read()
    return body if case["type"] == "binary" else body.decode("utf-8")


def describe(got, want):
    if type(got) is not type(want):
        return f"got a {type(got).__name__} message, want {type(want).__name__}"
    n = min(len(got), len(want))
    i = next((i for i in range(n) if got[i] != want[i]), n)
    return f"got {len(got)} items, want {len(want)}; first difference at {i}"


async def echo(report, ws_url, http_url, options, cases):
    cases = json.loads(cases)
    async with connect(ws_url, options) as ws:
        report.update(extensions(ws))
        for i, case in enumerate(cases):
            want = await asyncio.to_thread(fetch, http_url, case)
            await ws.send(fragments(want) if case["frag"] else want)
            got = await ws.recv()
            if got != want:
                report.update(error=f"case {case}: {describe(got, want)}", checked=i)
                return
    report.update(checked=len(cases), code=ws.close_code, reason=ws.close_reason)


async def ping(report, ws_url, http_url, options):
    async with connect(ws_url, options) as ws:
        pong = await ws.ping(b"python")
        await pong
        msg = await ws.recv()
        if msg != "!pinged":
            report["error"] = f"got {msg!r}, want '!pinged'"
            return
    report.update(code=ws.close_code, reason=ws.close_reason)


async def close_by_client(report, ws_url, http_url, options, code, reason):
    ws = await connect(ws_url, options)
    await ws.close(int(code), reason)
    report.update(code=ws.close_code, reason=ws.close_reason)


async def close_by_server(report, ws_url, http_url, options):
    async with connect(ws_url, options) as ws:
        try:
            msg = await ws.recv()
            report["error"] = f"got a message {msg!r}, want the server's close"
            return
        except websockets.exceptions.ConnectionClosed:
            pass
        await ws.wait_closed()
    report.update(code=ws.close_code, reason=ws.close_reason)


SCENARIOS = {
    "echo": echo,
    "ping": ping,
    "close-by-client": close_by_client,
    "close-by-server": close_by_server,
}


def main():
    scenario, *args = sys.argv[1:]
    report = {"error": ""}
    try:
        run = SCENARIOS[scenario](report, *args)
        asyncio.run(asyncio.wait_for(run, TIMEOUT))
    except Exception as e:
        report["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
