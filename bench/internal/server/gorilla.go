package server

import (
	"bytes"
	"net"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
)

// serveGorilla follows gorilla's documentation: an Upgrader with a write
// buffer pool (its advice for many connections), one goroutine per
// connection that reads a message and writes it back, and a
// PreparedMessage for broadcasts (encoded once for all subscribers). The
// message is read with NextReader into a buffer the connection keeps, which
// allocates less than ReadMessage.
func serveGorilla(ln net.Listener, opts Options) error {
	up := &websocket.Upgrader{
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: opts.Compress,
		CheckOrigin:       func(*http.Request) bool { return true },
	}
	var subs hub[*websocket.Conn]

	return serveHTTP(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(MaxMessageSize)
		switch {
		case opts.Mode == Echo:
			var buf bytes.Buffer
			for {
				typ, rd, err := c.NextReader()
				if err != nil {
					return
				}
				buf.Reset()
				if _, err := buf.ReadFrom(rd); err != nil {
					return
				}
				if err := c.WriteMessage(typ, buf.Bytes()); err != nil {
					return
				}
			}
		case r.URL.Path == PublisherPath:
			for {
				typ, p, err := c.ReadMessage()
				if err != nil {
					return
				}
				pm, err := websocket.NewPreparedMessage(typ, p)
				if err != nil {
					return
				}
				fanout(subs.snapshot(), func(s *websocket.Conn) { s.WritePreparedMessage(pm) })
			}
		default:
			subs.add(c)
			defer subs.remove(c)
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
			}
		}
	})
}
