package websocket

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// This file is the tests' server without net/http: it reads a request off a
// raw connection and runs it through the same checks and 101 response as
// Accept (checkRequest, finishAccept), so the tests and fuzz targets can
// hand the server any bytes at all, a request net/http would refuse
// before a handler sees it included.

// acceptConn upgrades nc, whose request r the caller read through br;
// bytes br holds beyond the request are the first of the WebSocket stream.
// A refused request gets its HTTP error response on nc; the caller closes nc.
func acceptConn(nc net.Conn, br *bufio.Reader, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	o := acceptOptions(opts)
	hs, herr := checkRequest(r, &o)
	if herr != nil {
		nc.SetWriteDeadline(time.Now().Add(o.HandshakeTimeout))
		herr.writeRaw(nc)
		nc.SetWriteDeadline(time.Time{})
		return nil, herr
	}
	return finishAccept(nc, br, hs, nil, &o)
}

// acceptRaw reads a request of at most maxHeader bytes from nc within
// opts.HandshakeTimeout and upgrades it with acceptConn. A request over
// the limit gets 431, one that does not parse 400; the caller closes nc.
func acceptRaw(nc net.Conn, opts *AcceptOptions, maxHeader int) (*Conn, *http.Request, error) {
	o := acceptOptions(opts)
	deadline := time.Now().Add(o.HandshakeTimeout)
	nc.SetReadDeadline(deadline)
	lr := &limitedReader{r: nc, n: int64(maxHeader)}
	br := bufio.NewReader(lr)
	r, err := http.ReadRequest(br)
	nc.SetReadDeadline(time.Time{})
	if err != nil {
		herr := &handshakeError{status: http.StatusBadRequest, msg: "malformed HTTP request"}
		if lr.n <= 0 {
			herr = &handshakeError{status: http.StatusRequestHeaderFieldsTooLarge, msg: "request header over the limit"}
		}
		nc.SetWriteDeadline(deadline)
		herr.writeRaw(nc)
		return nil, nil, fmt.Errorf("websocket: reading the handshake: %w", err)
	}
	lr.n = -1 // no limit from here on
	c, err := acceptConn(nc, br, r, &o)
	return c, r, err
}

// writeRaw writes e as an HTTP/1.1 response to a connection net/http does
// not serve.
func (e *handshakeError) writeRaw(w io.Writer) {
	var b bytes.Buffer
	body := "websocket: " + e.msg + "\n"
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", e.status, http.StatusText(e.status))
	e.header.Write(&b)
	fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	w.Write(b.Bytes())
}
