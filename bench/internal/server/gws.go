package server

import (
	"net"
	"net/http"

	"github.com/lxzan/gws"
)

// serveGws follows gws's "Best Practice": its event API, an Upgrader with
// ParallelEnabled and Recovery, ReadLoop in its own goroutine so the HTTP
// handler returns, and a Broadcaster for broadcasts (the message framed,
// and compressed, once for all subscribers).
func serveGws(ln net.Listener, opts Options) error { return gwsServer(ln, opts, true) }

// serveGwsSerial is gws as its echo example is written, without
// ParallelEnabled: each connection's messages are handled on its ReadLoop.
func serveGwsSerial(ln net.Listener, opts Options) error { return gwsServer(ln, opts, false) }

func gwsServer(ln net.Listener, opts Options, parallel bool) error {
	h := &gwsHandler{mode: opts.Mode}
	up := gws.NewUpgrader(h, &gws.ServerOption{
		ParallelEnabled:    parallel,
		Recovery:           gws.Recovery,
		ReadMaxPayloadSize: MaxMessageSize,
		PermessageDeflate:  gws.PermessageDeflate{Enabled: opts.Compress},
	})
	return serveHTTP(ln, func(w http.ResponseWriter, r *http.Request) {
		socket, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		if opts.Mode == Broadcast {
			if r.URL.Path == PublisherPath {
				socket.Session().Store("pub", true)
			} else {
				h.subs.add(socket)
			}
		}
		go socket.ReadLoop()
	})
}

type gwsHandler struct {
	gws.BuiltinEventHandler
	mode Mode
	subs hub[*gws.Conn]
}

func (h *gwsHandler) OnClose(socket *gws.Conn, err error) {
	h.subs.remove(socket)
}

func (h *gwsHandler) OnPing(socket *gws.Conn, payload []byte) {
	socket.WritePong(payload)
}

func (h *gwsHandler) OnMessage(socket *gws.Conn, message *gws.Message) {
	defer message.Close()
	if h.mode == Echo {
		socket.WriteMessage(message.Opcode, message.Bytes())
		return
	}
	if _, pub := socket.Session().Load("pub"); !pub {
		return
	}
	b := gws.NewBroadcaster(message.Opcode, message.Bytes())
	defer b.Close()
	for _, s := range h.subs.snapshot() {
		b.Broadcast(s)
	}
}
