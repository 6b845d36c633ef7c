package server

import (
	"context"
	"io"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// serveCoder follows coder's echo example: Reader and Writer with
// io.CopyBuffer through a buffer the connection keeps (allocated on the
// first message, so that idle connections hold none). Subscribers are
// write-only, so they use CloseRead, as coder's documentation advises.
func serveCoder(ln net.Listener, opts Options) error {
	ao := &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled}
	if opts.Compress {
		ao.CompressionMode = websocket.CompressionContextTakeover
	}
	var subs hub[*websocket.Conn]

	return serveHTTP(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, ao)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(MaxMessageSize)
		ctx := r.Context()
		switch {
		case opts.Mode == Echo:
			var buf []byte
			for {
				typ, rd, err := c.Reader(ctx)
				if err != nil {
					return
				}
				wr, err := c.Writer(ctx, typ)
				if err != nil {
					return
				}
				if buf == nil {
					buf = make([]byte, 32<<10)
				}
				if _, err := io.CopyBuffer(wr, rd, buf); err != nil {
					return
				}
				if err := wr.Close(); err != nil {
					return
				}
			}
		case r.URL.Path == PublisherPath:
			for {
				typ, p, err := c.Read(ctx)
				if err != nil {
					return
				}
				fanout(subs.snapshot(), func(s *websocket.Conn) { s.Write(context.Background(), typ, p) })
			}
		default:
			subs.add(c)
			defer subs.remove(c)
			<-c.CloseRead(context.Background()).Done()
		}
	})
}
