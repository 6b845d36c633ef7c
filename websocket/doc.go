// Package websocket implements the WebSocket protocol, RFC 6455, for
// servers and clients, using only the standard library.
//
// A server upgrades an HTTP request with [Accept]; a client connects with
// [Dial]. Both return a [*Conn], which reads and writes whole messages
// ([Conn.Read], [Conn.ReadAppend], [Conn.Write]) or streams ([Conn.Reader],
// [Conn.Writer]), pings its peer ([Conn.Ping]) and closes with the close
// handshake ([Conn.Close]).
//
// The package checks everything RFC 6455 asks of an endpoint: masking in the
// right direction, reserved bits and opcodes, control frame size and
// fragmentation, the order of continuation frames, UTF-8 in text messages
// (incrementally, so a bad byte fails the connection as soon as it arrives),
// and close codes and reasons. A peer that breaks a rule gets the close code
// the RFC names (1002, 1007 or 1009) and the reader gets a [ProtocolError].
//
// Limits have defaults and can be changed in [ConnOptions]: the size of a
// message (16 MiB, decided from the frame's declared length before anything
// is allocated), the number of frames in one message and the time to wait
// for the peer's close frame; [DialOptions] bounds the handshake's header
// size and time.
//
// Compression: permessage-deflate (RFC 7692) is off unless
// [CompressionOptions.Enabled] is set in [ConnOptions.Compression]. It is
// off by default because every browser offers it, and a server that
// accepted every offer with context takeover would keep a compressor and
// a decompressor's window, hundreds of KiB, for each connection while it
// lives. A server of many connections that wants compression sets
// [CompressionOptions.NoContextTakeover] too: each message then compresses
// on its own with state from a pool, and an idle connection keeps none.
//
// Origin: [Accept] refuses a cross-origin handshake by default, comparing the
// Origin header's scheme, host and port with the request's own. Widen it with
// [AcceptOptions.OriginPatterns]; turn it off with
// [AcceptOptions.InsecureSkipOriginCheck].
//
// HTTP/2: WebSockets also run over HTTP/2 streams (RFC 8441), several on
// one TCP+TLS connection. [Accept] answers an extended CONNECT on an HTTP/2
// request; net/http's server passes those to handlers only when the
// environment has GODEBUG=http2xconnect=1 as the program starts (Go 1.26:
// it then advertises SETTINGS_ENABLE_CONNECT_PROTOCOL), which a program
// gets by importing package
// [github.com/wsdeck/wsdeck/websocket/xconnect] for its side effect; the
// handler must not return while the Conn is in use. [Dial] sends one when
// [DialOptions.HTTP2] holds a round tripper that can (golang.org/x/net/http2's
// Transport: net/http's own refuses the ":protocol" header), and falls back
// to HTTP/1.1 when the server does not take it. A stream's deadlines, once
// passed, end the stream: a read cut short cannot be taken up again.
//
// Concurrency: one goroutine may read at a time; Write, Writer, Ping and
// Close may be called from any goroutine. Control frames (pings, the close
// frame) are handled while reading, so a connection must have a reader for
// pings to be answered and for [Conn.Ping] to return. The reader never waits
// on the write side to answer a ping: the pong goes out from a goroutine of
// its own, and when pings come faster than pongs can be written, only the
// latest is answered (RFC 6455 section 5.5.3).
//
// Reads and writes of whole messages do not allocate in steady state.
// [Conn.ReadAppend] into a buffer kept from one message to the next also
// copies nothing: on Linux TCP and Unix sockets the payload is read
// straight into the buffer's spare capacity (one readv puts the frame
// header in the read buffer and the payload after it in yours), and a
// large one is written from the caller's slice with writev. A broadcast
// is a [PreparedMessage], encoded once for every connection; a writer that
// has several waiting passes them to one [Conn.WritePrepared] call, which
// writes them all with one writev.
//
// Memory: a connection waiting for its next message holds no read or write
// buffer (they come from pools when bytes are to be read or written; on
// TCP and Unix sockets the read buffer goes back before the reader parks).
// For a server with many connections, return from the HTTP handler after
// [Accept] and serve the connection from a goroutine of its own: net/http
// then lets go of the request's buffers, and the new goroutine's stack
// stays at its smallest while it waits (bench/RESULTS.md has the memory
// an idle connection costs).
//
//	func handler(w http.ResponseWriter, r *http.Request) {
//		c, err := websocket.Accept(w, r, nil)
//		if err != nil {
//			return
//		}
//		go serve(c)
//	}
package websocket
