"""Client side of wsdeck's interop tests, on python3-websockets (asyncio).

Usage: python3 python_client.py SCENARIO URL [ARGS...]

It runs one scenario against the Go test server at URL (http://127.0.0.1:PORT)
and prints a JSON report on one line of standard output:
{"error": ...} names the first thing that went wrong, "" if none; "checked"
counts the echoes checked; "code" and "reason" are the close frame received.

    echo CASES      for each case of the JSON list CASES, {"type": "text" or
                    "binary", "size": N, "frag": BOOL}: fetch the payload from
                    URL/payload, send it (in four fragments if frag) on
                    URL/ws/echo, and check the echo byte for byte; then close
    ping            ping the server on URL/ws/ping and wait for the pong, then
                    wait for the server's "!pinged" (its ping was answered)
    close-by-client CODE REASON
                    close URL/ws/close-by-client with CODE and REASON
    close-by-server wait on URL/ws/close-by-server for the server to close
"""

import asyncio
import json
import sys
import urllib.request

import websockets

MAX_SIZE = 32 << 20
TIMEOUT = 100


def fragments(data):
    """Cuts data (str or bytes) into four uneven pieces, where wsdeck's
    tests cut their own fragmented messages."""
    n = len(data)
    cuts = [0, n // 7, n // 2, n * 6 // 7, n]
    return [data[a:b] for a, b in zip(cuts, cuts[1:])]


def connect(url):
    return websockets.connect(
        url, compression=None, max_size=MAX_SIZE, ping_interval=None
    )


def ws_url(url, scenario):
    return "ws" + url.removeprefix("http") + "/ws/" + scenario


def fetch(url, case):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    query = f"/payload?type={case['type']}&size={case['size']}"
    with opener.open(url + query) as resp:
        body = resp.read()
    return body.decode("utf-8") if case["type"] == "text" else body


def describe(got, want):
    if type(got) is not type(want):
        return f"got a {type(got).__name__} message, want {type(want).__name__}"
    n = min(len(got), len(want))
    i = next((i for i in range(n) if got[i] != want[i]), n)
    return f"got {len(got)} items, want {len(want)}; first difference at {i}"


async def echo(url, cases):
    cases = json.loads(cases)
    async with connect(ws_url(url, "echo")) as ws:
        for i, case in enumerate(cases):
            want = await asyncio.to_thread(fetch, url, case)
            await ws.send(fragments(want) if case["frag"] else want)
            got = await ws.recv()
            if got != want:
                return {"error": f"case {case}: {describe(got, want)}", "checked": i}
    return {"checked": len(cases), "code": ws.close_code, "reason": ws.close_reason}


async def ping(url):
    async with connect(ws_url(url, "ping")) as ws:
        pong = await ws.ping(b"python")
        await pong
        msg = await ws.recv()
        if msg != "!pinged":
            return {"error": f"got {msg!r}, want '!pinged'"}
    return {"code": ws.close_code, "reason": ws.close_reason}


async def close_by_client(url, code, reason):
    ws = await connect(ws_url(url, "close-by-client"))
    await ws.close(int(code), reason)
    return {"code": ws.close_code, "reason": ws.close_reason}


async def close_by_server(url):
    async with connect(ws_url(url, "close-by-server")) as ws:
        try:
            msg = await ws.recv()
            return {"error": f"got a message {msg!r}, want the server's close"}
        except websockets.exceptions.ConnectionClosed:
            pass
        await ws.wait_closed()
    return {"code": ws.close_code, "reason": ws.close_reason}


SCENARIOS = {
    "echo": echo,
    "ping": ping,
    "close-by-client": close_by_client,
    "close-by-server": close_by_server,
}


def main():
    scenario, url, *args = sys.argv[1:]
    report = {"error": ""}
    try:
        run = SCENARIOS[scenario](url, *args)
        report.update(asyncio.run(asyncio.wait_for(run, TIMEOUT)))
    except Exception as e:
        report["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
