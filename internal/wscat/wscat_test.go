package wscat

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"wsdeck/internal/echo"
	"wsdeck/websocket"
)

func wsURL(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestLinesEchoed: every input line comes back, in order, even those whose
// replies arrive after the end of input started the close handshake.
func TestLinesEchoed(t *testing.T) {
	srv := httptest.NewServer(echo.Handler(echo.Config{}))
	defer srv.Close()
	var in strings.Builder
	for i := range 200 {
		in.WriteString(strings.Repeat("x", i) + "\n")
	}
	var out, errOut bytes.Buffer
	err := Run(testCtx(t), Config{URL: wsURL(srv), Stdin: strings.NewReader(in.String()), Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Fatalf("Run: %v (stderr %q)", err, errOut.String())
	}
	if out.String() != in.String() {
		t.Fatalf("output differs from input: got %d bytes, want %d", out.Len(), in.Len())
	}
}

// TestEchoMode: --echo sends each message back with its type until the
// server closes normally; a 1000 close exits cleanly.
func TestEchoMode(t *testing.T) {
	got := make(chan []string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var echoed []string
		for _, m := range []struct {
			typ websocket.MessageType
			p   string
		}{{websocket.MessageText, "one"}, {websocket.MessageBinary, "\x00\x01two"}, {websocket.MessageText, ""}} {
			if err := c.Write(r.Context(), m.typ, []byte(m.p)); err != nil {
				t.Error(err)
				return
			}
			typ, p, err := c.Read(r.Context())
			if err != nil || typ != m.typ {
				t.Errorf("echo of %q: type %v err %v", m.p, typ, err)
				return
			}
			echoed = append(echoed, string(p))
		}
		got <- echoed
		c.Close(websocket.StatusNormalClosure, "done")
	}))
	defer srv.Close()
	err := Run(testCtx(t), Config{URL: wsURL(srv), Echo: true, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if e := <-got; strings.Join(e, "|") != "one|\x00\x01two|" {
		t.Fatalf("server got back %q", e)
	}
}

// TestAbnormalClose: a server that drops the connection, or closes with an
// error code, makes Run return ErrAbnormalClose.
func TestAbnormalClose(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(c *websocket.Conn)
	}{
		{"drop", func(c *websocket.Conn) { c.CloseNow() }},
		{"1011", func(c *websocket.Conn) { c.Close(websocket.StatusInternalError, "boom") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				tc.close(c)
			}))
			defer srv.Close()
			pr, pw := io.Pipe()
			defer pw.Close()
			err := Run(testCtx(t), Config{URL: wsURL(srv), Stdin: pr, Stdout: io.Discard, Stderr: io.Discard})
			if !errors.Is(err, ErrAbnormalClose) {
				t.Fatalf("Run = %v, want ErrAbnormalClose", err)
			}
		})
	}
}

// TestHeadersAndSubprotocol: -H headers and --subprotocol reach the server.
func TestHeadersAndSubprotocol(t *testing.T) {
	seen := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"chat.v2"}})
		if err != nil {
			return
		}
		echo.Serve(r.Context(), c)
	}))
	defer srv.Close()
	var errOut bytes.Buffer
	h := http.Header{}
	h.Set("X-Token", "abc")
	err := Run(testCtx(t), Config{URL: wsURL(srv), Header: h, Subprotocols: []string{"chat.v1", "chat.v2"},
		Stdin: strings.NewReader("hi\n"), Stdout: io.Discard, Stderr: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	if got := (<-seen).Get("X-Token"); got != "abc" {
		t.Errorf("X-Token = %q", got)
	}
	if !strings.Contains(errOut.String(), "subprotocol chat.v2") {
		t.Errorf("stderr %q does not name the agreed subprotocol", errOut.String())
	}
}

// TestRefusedHandshake: a refused handshake reports the status and body.
func TestRefusedHandshake(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "go away", http.StatusForbidden)
	}))
	defer srv.Close()
	err := Run(testCtx(t), Config{URL: wsURL(srv), Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "go away") {
		t.Fatalf("Run = %v, want the 403 and its body", err)
	}
}
