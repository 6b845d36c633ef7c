#!/usr/bin/env python3
"""python3-hypercorn serving WebSockets over HTTP/2 (RFC 8441) and
HTTP/1.1, over TLS, for our client.

usage: python_h2_server.py CERTFILE KEYFILE

It binds 127.0.0.1 on a free port, prints "PORT <n>" on stdout, and serves
an echo: each socket first gets a JSON text message naming the HTTP
version and client address the server saw it arrive on, then every
message back as it came. It runs until killed.
"""

import asyncio
import json
import socket
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps(
        {"http_version": scope["http_version"], "client": list(scope["client"])})})
    while True:
        msg = await receive()
        if msg["type"] == "websocket.disconnect":
            return
        if msg.get("text") is not None:
            await send({"type": "websocket.send", "text": msg["text"]})
        else:
            await send({"type": "websocket.send", "bytes": msg["bytes"]})


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.set_inheritable(True)
    config = Config()
    config.bind = ["fd://%d" % sock.fileno()]
    config.certfile, config.keyfile = sys.argv[1], sys.argv[2]
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = None
    print("PORT %d" % sock.getsockname()[1], flush=True)
    asyncio.run(serve(app, config))


if __name__ == "__main__":
    main()
