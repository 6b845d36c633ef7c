package websocket_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/wsdeck/wsdeck/websocket"
)

// An echo server: every message goes back as it came. The client closes
// with a status code, which the server's read reports.
func ExampleAccept() {
	ended := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return // Accept has written the HTTP error response.
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				ended <- err
				return
			}
			if err := c.Write(r.Context(), typ, p); err != nil {
				ended <- err
				return
			}
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	for _, msg := range []string{"hello", "world"} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			fmt.Println(err)
			return
		}
		typ, p, err := c.Read(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(typ, string(p))
	}
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		fmt.Println(err)
	}
	fmt.Println("the server read:", <-ended)
	// Output:
	// MessageText hello
	// MessageText world
	// the server read: websocket: closed by peer: NormalClosure(1000) "done"
}

// A client offers subprotocols and learns which the server chose; the
// server says one thing and closes. A refused handshake returns the HTTP
// response, to say why.
func ExampleDial() {
	mux := http.NewServeMux()
	served := make(chan error, 1)
	mux.HandleFunc("/chat", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"chat.v2", "chat.v1"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		if err := c.Write(r.Context(), websocket.MessageText, []byte("welcome")); err != nil {
			served <- err
			return
		}
		served <- c.Close(websocket.StatusGoingAway, "shutting down")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base := "ws" + strings.TrimPrefix(srv.URL, "http")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, base+"/chat", &websocket.DialOptions{
		Subprotocols: []string{"chat.v1", "chat.v2"},
		HTTPHeader:   http.Header{"Authorization": {"Bearer example-token"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	fmt.Println(resp.StatusCode, c.Subprotocol())
	_, p, err := c.Read(ctx)
	fmt.Println(string(p), err)
	_, _, err = c.Read(ctx)
	fmt.Println(websocket.CloseStatus(err), err)
	fmt.Println("server's Close:", <-served)

	_, resp, err = websocket.Dial(ctx, base+"/nowhere", nil)
	fmt.Println(resp.StatusCode, err != nil)
	// Output:
	// 101 chat.v2
	// welcome <nil>
	// GoingAway(1001) websocket: closed by peer: GoingAway(1001) "shutting down"
	// server's Close: <nil>
	// 404 true
}

// Writer streams one message in pieces, here with fmt.Fprintf; the peer
// reads it whole.
func ExampleConn_Writer() {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, p, err := c.Read(r.Context())
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(p)
		c.Read(r.Context()) // to the close frame
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(<-got)
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		fmt.Println(err)
	}
	// Output:
	// line 1
	// line 2
	// line 3
}
