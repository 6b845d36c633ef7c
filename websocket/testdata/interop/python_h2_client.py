#!/usr/bin/env python3
"""An RFC 8441 client of our server: python3-h2 speaks HTTP/2 over TLS,
python3-wsproto the WebSocket frames of each stream.

usage: python_h2_client.py HOST PORT PATH

It opens one TLS connection, checks that the server advertised
SETTINGS_ENABLE_CONNECT_PROTOCOL, and opens two WebSockets on it as
extended CONNECTs (:protocol websocket), one plain and one offering
permessage-deflate. On each it sends a text message, a binary one, a
message in three fragments and a ping, expects them echoed (and the pong),
then closes with 1000 and waits for the server's close frame. It prints a
JSON report on stdout; the Go test checks it.
"""

import json
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import (BytesMessage, CloseConnection, Message, Ping,
                            Pong, TextMessage)
from wsproto.extensions import PerMessageDeflate


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=10))
    report = {"alpn": sock.selected_alpn_protocol(), "streams": []}

    h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    h2c.initiate_connection()
    sock.sendall(h2c.data_to_send())

    streams = {}  # stream id -> dict(status, headers, ws, events)
    state = {"settings": None}

    def pump():
        data = sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        for ev in h2c.receive_data(data):
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                state["settings"] = h2c.remote_settings.enable_connect_protocol
            elif isinstance(ev, h2.events.ResponseReceived):
                st = streams[ev.stream_id]
                st["headers"] = {k.decode(): v.decode() for k, v in ev.headers}
            elif isinstance(ev, h2.events.DataReceived):
                h2c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                st = streams[ev.stream_id]
                if not ev.data:
                    continue  # the empty DATA frame that ends the stream
                st["ws"].receive_data(ev.data)
                for wev in st["ws"].events():
                    if isinstance(wev, Ping):
                        send_ws(ev.stream_id, wev.response())
                    st["events"].append(wev)
            elif isinstance(ev, h2.events.StreamEnded):
                streams[ev.stream_id]["ended"] = True
        sock.sendall(h2c.data_to_send())

    def wait(cond):
        while not cond():
            pump()

    def send_ws(sid, event):
        h2c.send_data(sid, streams[sid]["ws"].send(event))
        sock.sendall(h2c.data_to_send())

    wait(lambda: state["settings"] is not None)
    report["enable_connect_protocol"] = state["settings"]

    # Open both sockets before using either: two streams at once.
    for compress in (False, True):
        sid = h2c.get_next_available_stream_id()
        headers = [(":method", "CONNECT"), (":protocol", "websocket"),
                   (":scheme", "https"), (":path", path),
                   (":authority", "%s:%d" % (host, port)),
                   ("sec-websocket-version", "13")]
        if compress:
            headers.append(("sec-websocket-extensions", "permessage-deflate"))
        streams[sid] = {"compress": compress, "headers": None, "events": [], "ended": False}
        h2c.send_headers(sid, headers)
        sock.sendall(h2c.data_to_send())

    for sid, st in sorted(streams.items()):
        wait(lambda: st["headers"] is not None)
        out = {"stream": sid, "status": st["headers"].get(":status"),
               "extensions": st["headers"].get("sec-websocket-extensions", "")}
        exts = []
        if out["extensions"]:
            pmd = PerMessageDeflate()
            pmd.finalize(out["extensions"])
            exts.append(pmd)
        st["ws"] = Connection(ConnectionType.CLIENT, extensions=exts)
        report["streams"].append(out)
        if out["status"] != "200":
            continue

        def take(kind):
            wait(lambda: any(isinstance(e, kind) for e in st["events"]))
            for i, e in enumerate(st["events"]):
                if isinstance(e, kind):
                    return st["events"].pop(i)

        def read_message():
            parts = []
            while True:
                e = take((TextMessage, BytesMessage))
                parts.append(e.data)
                if e.message_finished:
                    return ("" if isinstance(e, TextMessage) else b"").join(parts)

        text = "hello over HTTP/2 " * 40
        send_ws(sid, Message(data=text))
        out["text_echoed"] = read_message() == text
        blob = bytes(range(256)) * 300
        send_ws(sid, Message(data=blob))
        out["binary_echoed"] = read_message() == blob
        send_ws(sid, Message(data="frag", message_finished=False))
        send_ws(sid, Message(data="ment", message_finished=False))
        send_ws(sid, Message(data="ed", message_finished=True))
        out["fragments_echoed"] = read_message() == "fragmented"
        send_ws(sid, Ping(payload=b"h2-ping"))
        out["pong"] = take(Pong).payload.decode()
        send_ws(sid, CloseConnection(code=1000, reason="bye"))
        out["close_code"] = take(CloseConnection).code
        wait(lambda: st["ended"])
        out["stream_ended"] = True

    h2c.close_connection()
    sock.sendall(h2c.data_to_send())
    sock.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
