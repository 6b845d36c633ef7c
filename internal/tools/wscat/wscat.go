// Package wscat is a small command-line WebSocket client in the manner of
// wscat: lines from its input go out as text messages, messages that
// arrive are written to its output, one a line.
package wscat

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/wsdeck/wsdeck/websocket"
)

// Config configures a client session. URL is required.
type Config struct {
	URL          string
	Header       http.Header
	Subprotocols []string
	// Echo sends every message received straight back, with its type,
	// until the server closes; input is not read. Client conformance
	// suites drive a client so.
	Echo bool
	// CAFile is a PEM file of roots for wss:// in place of the system's.
	CAFile string
	// HandshakeTimeout bounds the opening handshake; 0 means the
	// package's default.
	HandshakeTimeout time.Duration
	Conn             websocket.ConnOptions

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// ErrAbnormalClose is returned when the connection did not end with a
// normal close (1000, 1001, or a close frame without a status code) from
// either side.
var ErrAbnormalClose = errors.New("abnormal close")

// Run connects and runs the session until the connection ends. It returns
// nil for a normal close and an error wrapping ErrAbnormalClose otherwise.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Stdin == nil {
		cfg.Stdin = os.Stdin
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	opts := &websocket.DialOptions{
		ConnOptions:      cfg.Conn,
		HTTPHeader:       cfg.Header,
		Subprotocols:     cfg.Subprotocols,
		HandshakeTimeout: cfg.HandshakeTimeout,
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no certificates found", cfg.CAFile)
		}
		opts.TLSConfig = &tls.Config{RootCAs: pool}
	}
	c, resp, err := websocket.Dial(ctx, cfg.URL, opts)
	if err != nil {
		if resp != nil && resp.Body != nil {
			body, _ := io.ReadAll(resp.Body)
			if s := strings.TrimSpace(string(body)); s != "" {
				return fmt.Errorf("%w: %s", err, s)
			}
		}
		return err
	}
	defer c.CloseNow()
	// When ctx ends (Ctrl-C), close the connection properly; reads go on
	// with a context of their own so that the handshake can finish.
	stop := context.AfterFunc(ctx, func() { c.StartClose(websocket.StatusNormalClosure, "") })
	defer stop()
	ctx = context.WithoutCancel(ctx)
	if p := c.Subprotocol(); p != "" {
		fmt.Fprintf(cfg.Stderr, "connected (subprotocol %s)\n", p)
	}
	if cfg.Echo {
		return closeResult(echoBack(ctx, c))
	}

	// Input lines go out from their own goroutine; the end of input
	// starts the close handshake. Reading stays here, so the handshake
	// ends when the server's close frame is read. The sender may be
	// blocked reading input when the server closes: it is not waited for.
	go send(ctx, c, cfg.Stdin)
	out := bufio.NewWriter(cfg.Stdout)
	var buf []byte
	for {
		_, p, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			return closeResult(err)
		}
		out.Write(p)
		out.WriteByte('\n')
		if err := out.Flush(); err != nil {
			c.Close(websocket.StatusGoingAway, "output closed")
			return err
		}
		buf = p
	}
}

// send writes each input line as a text message, then closes with 1000.
func send(ctx context.Context, c *websocket.Conn, in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), websocket.DefaultMaxMessageSize)
	for sc.Scan() {
		if err := c.Write(ctx, websocket.MessageText, sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return c.StartClose(websocket.StatusInternalError, "reading input failed")
	}
	// The read loop goes on printing replies until the server's close
	// frame answers this one.
	return c.StartClose(websocket.StatusNormalClosure, "")
}

// echoBack sends every message back until the read ends, and returns the
// read's error.
func echoBack(ctx context.Context, c *websocket.Conn) error {
	var buf []byte
	for {
		typ, p, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			return err
		}
		// A failed write is not the end: once our close frame is out
		// (the session was stopped), messages are no longer echoed and
		// the reads go on to the server's close frame, which ends the
		// handshake; any other failure closed the connection, and the
		// next read reports why.
		c.Write(ctx, typ, p)
		buf = p
	}
}

// closeResult turns the error that ended the session into Run's result: a
// close frame with 1000, 1001 or no status code (1005) is a clean end.
func closeResult(err error) error {
	var ce websocket.CloseError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce) && cleanClose(ce.Code):
		return nil
	}
	return fmt.Errorf("%w: %v", ErrAbnormalClose, err)
}

// cleanClose reports whether a close handshake with code ends the session
// cleanly. A close frame without a status code (1005, RFC 6455 section
// 7.1.5) completes a clean close (section 7.1.4) and names no error, as
// 1000 does.
func cleanClose(code websocket.StatusCode) bool {
	switch code {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway, websocket.StatusNoStatusRcvd:
		return true
	}
	return false
}
