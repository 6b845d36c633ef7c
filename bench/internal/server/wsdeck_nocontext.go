package server

import (
	"net"
	"net/http"

	"github.com/wsdeck/wsdeck/websocket"
)

func init() { libraries["wsdeck-nocontext"] = serveWsdeckNoContextTakeover }

// serveWsdeckNoContextTakeover is serveWsdeck with, when compression is
// on, CompressionOptions.NoContextTakeover: every message is compressed on
// its own in both directions, so an idle connection keeps no compression
// state (the compressors and inflaters are pooled). Without compression it
// is serveWsdeck. Not in the default comparison; -measure idle-browser
// runs it.
func serveWsdeckNoContextTakeover(ln net.Listener, opts Options) error {
	ao := &websocket.AcceptOptions{InsecureSkipOriginCheck: true}
	ao.MaxMessageSize = MaxMessageSize
	ao.Compression.Enabled = opts.Compress
	ao.Compression.NoContextTakeover = true
	var subs hub[*websocket.Conn]
	return serveHTTP(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, ao)
		if err != nil {
			return
		}
		go serveWsdeckConn(c, opts.Mode, r.URL.Path == PublisherPath, &subs)
	})
}
