package server

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/wsdeck/wsdeck/websocket"
)

// serveWsdeck is our package as its documentation recommends for servers
// of many connections: Accept, then serve the connection from a goroutine
// of its own so that the HTTP handler returns and net/http lets go of the
// request's buffers; ReadAppend into a buffer the connection keeps, and
// Write.
func serveWsdeck(ln net.Listener, opts Options) error { return wsdeckServer(ln, opts, true) }

// serveWsdeckInHandler is serveWsdeck with each connection served inside
// its HTTP handler, as the console does: the same speed, but an idle
// connection keeps net/http's buffers and the handler's deeper stack. Not
// in the default comparison.
func serveWsdeckInHandler(ln net.Listener, opts Options) error { return wsdeckServer(ln, opts, false) }

func wsdeckServer(ln net.Listener, opts Options, detach bool) error {
	ao := &websocket.AcceptOptions{InsecureSkipOriginCheck: true}
	ao.MaxMessageSize = MaxMessageSize
	ao.Compression.Enabled = opts.Compress
	var subs hub[*websocket.Conn]

	return serveHTTP(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, ao)
		if err != nil {
			return
		}
		pub := r.URL.Path == PublisherPath
		if detach {
			go serveWsdeckConn(c, opts.Mode, pub, &subs)
			return
		}
		serveWsdeckConn(c, opts.Mode, pub, &subs)
	})
}

func serveWsdeckConn(c *websocket.Conn, mode Mode, pub bool, subs *hub[*websocket.Conn]) {
	ctx := context.Background()
	defer c.CloseNow()
	switch {
	case mode == Echo:
		var buf []byte
		for {
			typ, p, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, p); err != nil {
				return
			}
			buf = p
		}
	case pub:
		var buf []byte
		for {
			typ, p, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				return
			}
			// Encoded once for every subscriber; fanout returns when all
			// are written, so buf may be reused.
			pm, err := websocket.NewPreparedMessage(typ, p)
			if err != nil {
				return
			}
			fanout(subs.snapshot(), func(s *websocket.Conn) { s.WritePrepared(ctx, pm) })
			buf = p
		}
	default:
		subs.add(c)
		defer subs.remove(c)
		var buf []byte
		for {
			_, p, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				return
			}
			buf = p
		}
	}
}

// serveHTTP serves h on ln with net/http, as every library but gobwas
// expects.
func serveHTTP(ln net.Listener, h http.HandlerFunc) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}
