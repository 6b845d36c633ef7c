//go:build unix

package websocket_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/wsdeck/wsdeck/websocket"
	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
)

// h2ChromiumPage opens three WebSockets at once from a page loaded over
// HTTP/2, so Chromium carries them as RFC 8441 streams of that connection;
// on each it echoes a text and a binary message, asks for a fragmented
// one, and closes with 1000. It POSTs what it saw to /result.
const h2ChromiumPage = `<!doctype html><script>
async function one(i) {
  const ws = new WebSocket("wss://" + location.host + "/ws");
  ws.binaryType = "arraybuffer";
  const queue = []; let wake = null;
  ws.onmessage = e => { queue.push(e.data); if (wake) { const w = wake; wake = null; w(); } };
  const next = () => new Promise(r => queue.length ? r(queue.shift()) : (wake = () => r(queue.shift())));
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error("socket " + i + " failed")); });
  const r = {extensions: ws.extensions};
  ws.send("hello " + i);
  r.text = (await next()) === "hello " + i;
  const bin = new Uint8Array(100000).map((_, k) => k % 251);
  ws.send(bin);
  const got = new Uint8Array(await next());
  r.binary = got.length === bin.length && got.every((v, k) => v === bin[k]);
  ws.send("fragments please");
  r.fragmented = (await next()) === "fragmented";
  const closed = new Promise(res => { ws.onclose = res; });
  ws.close(1000, "done");
  const e = await closed;
  r.code = e.code; r.clean = e.wasClean;
  return r;
}
Promise.all([0, 1, 2].map(one))
  .then(rs => fetch("/result", {method: "POST", body: JSON.stringify({sockets: rs})}))
  .catch(e => fetch("/result", {method: "POST", body: JSON.stringify({error: String(e)})}));
</script>`

// TestInteropH2Chromium: headless Chromium loads a page over TLS and
// HTTP/2 and opens three WebSockets; our server sees each arrive as an
// HTTP/2 extended CONNECT, all on one connection, agrees permessage-deflate
// (Chromium's default offer), pings each (Chromium answers), echoes, sends
// a fragmented message, and gets the close handshake.
func TestInteropH2Chromium(t *testing.T) {
	if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		t.Skip("GODEBUG lacks http2xconnect=1: net/http's HTTP/2 server refuses extended CONNECT")
	}
	t.Parallel()
	chromium := wstest.Chromium(t)

	type seen struct {
		Proto, Remote string
		Extensions    string
		PingErr       error
		Close         websocket.StatusCode
	}
	var mu sync.Mutex
	var sockets []seen
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, h2ChromiumPage)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			ConnOptions: websocket.ConnOptions{Compression: websocket.CompressionOptions{Enabled: true}}})
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		ctx := context.Background()
		so := seen{Proto: r.Proto, Remote: r.RemoteAddr}
		pinged := make(chan error, 1)
		go func() { pinged <- c.Ping(ctx) }()
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				so.Close = websocket.CloseStatus(err)
				break
			}
			if string(p) == "fragments please" {
				wr, err := c.Writer(ctx, websocket.MessageText)
				if err == nil {
					for _, part := range []string{"frag", "ment", "ed"} {
						wr.Write([]byte(part))
						if f, ok := wr.(interface{ Flush() error }); ok {
							f.Flush()
						}
					}
					err = wr.Close()
				}
				if err != nil {
					t.Errorf("fragmented write: %v", err)
				}
				continue
			}
			if err := c.Write(ctx, typ, p); err != nil {
				t.Errorf("echo: %v", err)
			}
		}
		so.PingErr = <-pinged
		mu.Lock()
		sockets = append(sockets, so)
		mu.Unlock()
	})
	type pageReport struct {
		Error   string `json:"error"`
		Sockets []struct {
			Extensions string `json:"extensions"`
			Text       bool   `json:"text"`
			Binary     bool   `json:"binary"`
			Fragmented bool   `json:"fragmented"`
			Code       int    `json:"code"`
			Clean      bool   `json:"clean"`
		} `json:"sockets"`
	}
	reports := make(chan pageReport, 1)
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		var rep pageReport
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			rep.Error = "decoding the report: " + err.Error()
		}
		select {
		case reports <- rep:
		default:
		}
	})
	s := httptest.NewUnstartedServer(mux)
	s.EnableHTTP2 = true
	s.StartTLS()
	defer s.Close()

	rep := browseForReport(t, chromium, s.URL+"/", reports, "--ignore-certificate-errors")
	if rep.Error != "" || len(rep.Sockets) != 3 {
		t.Fatalf("page: %+v", rep)
	}
	for i, so := range rep.Sockets {
		if !so.Text || !so.Binary || !so.Fragmented || so.Code != 1000 || !so.Clean ||
			!strings.HasPrefix(so.Extensions, "permessage-deflate") {
			t.Errorf("page socket %d: %+v", i, so)
		}
	}
	wstest.WaitFor(t, interopTimeout, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sockets) == 3
	}, "the server's three handlers to return")
	mu.Lock()
	defer mu.Unlock()
	for i, so := range sockets {
		if so.Proto != "HTTP/2.0" || so.Remote != sockets[0].Remote || so.PingErr != nil || so.Close != websocket.StatusNormalClosure {
			t.Errorf("server socket %d: %+v; want HTTP/2.0, one connection, a pong and close 1000", i, so)
		}
	}
}
