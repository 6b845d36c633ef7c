package websocket_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wsdeck/wsdeck/websocket"
)

// The interop tests prove this package against independent WebSocket
// implementations: python3-websockets and Node's ws, as clients of our
// server and as servers for our client, and Chromium as a client. The
// peers' sides are scripts in testdata/interop; internal/wstest finds the
// peers, and skips a test whose peer is missing (or fails it, with
// WSDECK_REQUIRE_PEERS=1).
//
// Every peer runs the suite twice, in the subtests "plain" and "deflate":
//
// plain: compression off on every side, as it is by default (a browser
// offers permessage-deflate, which our server declines): RFC 6455 itself.
// A peer's client runs these scenarios against our server:
//
//	echo             text and binary messages of interopSizes, whole and in
//	                 fragments, echoed by our server (in fragments too) and
//	                 checked byte for byte on both sides
//	ping             the peer pings our server, and our server pings the peer
//	                 while it reads
//	close-by-client  the peer closes with codeTheirClient and a reason
//	close-by-server  our server closes with codeOurServer and a reason
//
// and our client runs the same against a peer's echo server (testOurClient).
//
// deflate: the echo, of compressible and incompressible messages
// (deflateCases), over connections that agreed permessage-deflate under
// each of deflateConfigs, with the agreement and the wire checked too
// (interop_deflate_test.go).
//
// The peers' clients take the arguments SCENARIO WS_URL HTTP_URL OPTIONS
// [ARGS...], where OPTIONS is "off" for no compression, "null" for the
// peer's permessage-deflate defaults, or a JSON object of RFC 7692
// parameters; their servers take OPTIONS alone. Both fetch the content of
// the echoed messages from our HTTP_URL/payload.

const (
	// interopTimeout bounds each run of a peer's client or browser, each
	// connection of our server, and each wait for a peer. It is there to
	// end a hang, not to time the peers: a loaded machine running with
	// -race needs it generous. The peers' scripts give up sooner, at 100 s,
	// to report where they were.
	interopTimeout = 2 * time.Minute
	// peerServerTimeout bounds a peer's server, which outlives all the
	// scenarios run against it.
	peerServerTimeout = 3 * interopTimeout
	// interopMaxSize is the message limit on every side: twice the largest
	// message sent, so that the limits are not what is tested.
	interopMaxSize = 32 << 20
	// fragBufferSize is the WriteBufferSize of our connections that send
	// fragmented messages: the smallest there is, so that Conn.Writer
	// sends anything larger in several frames.
	fragBufferSize = 256
)

// interopConnOptions are the options of our side of every plain interop
// connection: with frag, a WriteBufferSize of fragBufferSize. Compression is
// off, as it is by default (a browser offers permessage-deflate, which our
// server then declines), and in the peers given "off".
func interopConnOptions(frag bool) websocket.ConnOptions {
	o := websocket.ConnOptions{MaxMessageSize: interopMaxSize}
	if frag {
		o.WriteBufferSize = fragBufferSize
	}
	return o
}

// interopSizes are the sizes of the echoed messages: the edges of the three
// encodings of a frame's length, and large messages.
var interopSizes = []int{0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20}

// The close codes of the close scenarios, one per side that closes, so that
// a test sees whose close frame arrived.
const (
	codeTheirClient websocket.StatusCode = 4001
	codeOurServer   websocket.StatusCode = 4002
	codeOurClient   websocket.StatusCode = 4003
	codeTheirServer websocket.StatusCode = 4004

	reasonOurServer = "bye from go server"
	reasonOurClient = "bye from go client"
)

// theirReason is the close reason of a peer's side: "bye from python client".
func theirReason(peer, side string) string { return "bye from " + peer + " " + side }

// interopScript returns the path of a peer's script.
func interopScript(name string) string { return filepath.Join("testdata", "interop", name) }

// echoCase is one message of the echo scenario. Its JSON form is what the
// peers' clients read.
type echoCase struct {
	// Type is "text" (random characters), "json" (compressible text like
	// a JSON API's) or "binary" (random bytes).
	Type string `json:"type"`
	Size int    `json:"size"`
	// Frag sends the message in fragments: our side with Conn.Writer, a
	// peer with its own fragment API where it has one.
	Frag bool `json:"frag"`
}

// echoCases returns every type and size, whole and then in fragments.
func echoCases(frag ...bool) []echoCase {
	if len(frag) == 0 {
		frag = []bool{false, true}
	}
	var cases []echoCase
	for _, f := range frag {
		for _, typ := range []string{"text", "binary"} {
			for _, size := range interopSizes {
				cases = append(cases, echoCase{Type: typ, Size: size, Frag: f})
			}
		}
	}
	return cases
}

func (ec echoCase) String() string {
	s := ec.Type + "_" + strconv.Itoa(ec.Size)
	if ec.Frag {
		s += "_frag"
	}
	return s
}

func (ec echoCase) messageType() websocket.MessageType {
	if ec.Type == "binary" {
		return websocket.MessageBinary
	}
	return websocket.MessageText
}

// check reports how a received message differs from the case's payload.
func (ec echoCase) check(typ websocket.MessageType, got []byte) error {
	if typ != ec.messageType() {
		return fmt.Errorf("got a %v message, want %v", typ, ec.messageType())
	}
	want := payload(ec.Type, ec.Size)
	if bytes.Equal(got, want) {
		return nil
	}
	i := 0
	for i < min(len(got), len(want)) && got[i] == want[i] {
		i++
	}
	return fmt.Errorf("got %d bytes, want %d; first difference at byte %d", len(got), len(want), i)
}

// textRunes are the characters of text payloads: every length of UTF-8
// encoding, with the edges of each range, where validators go wrong. There
// is no "!", which starts a command to a peer's server, and no U+FEFF, which
// a browser's decoder would take for a byte order mark.
var textRunes = []rune("abc xyz,09\n\u007f\u0080é\u07ff\u0800€日本\ud7ff\ue000\ufffd\uffff\U00010000😀🚀\U0010ffff")

var payloads sync.Map // of "type size" to func() []byte

// payload returns the content of a message of typ ("text", "json" or
// "binary") and size bytes: random bytes, random characters of textRunes,
// or jsonLike's text, from a generator seeded with the type and size. Peers
// fetch it from our server's /payload.
func payload(typ string, size int) []byte {
	key := typ + " " + strconv.Itoa(size)
	gen, _ := payloads.LoadOrStore(key, sync.OnceValue(func() []byte {
		if typ == "json" {
			return jsonLike(size)
		}
		var seed [32]byte
		copy(seed[:], key)
		rng := rand.NewChaCha8(seed)
		if typ == "binary" {
			p := make([]byte, size)
			rng.Read(p)
			return p
		}
		p := make([]byte, 0, size)
		var bits uint64
		for i := 0; len(p) < size; i++ {
			if i%8 == 0 {
				bits = rng.Uint64()
			}
			r := textRunes[int(bits&0xff)%len(textRunes)]
			bits >>= 8
			if utf8.RuneLen(r) > size-len(p) {
				r = 'a'
			}
			p = utf8.AppendRune(p, r)
		}
		return p
	}))
	return gen.(func() []byte)()
}

// fragments cuts p into the four uneven pieces that the peers' scripts cut
// their fragmented messages into.
func fragments(p []byte) [][]byte {
	n := len(p)
	cuts := []int{0, n / 7, n / 2, n * 6 / 7, n}
	pieces := make([][]byte, 0, 4)
	for i := 1; i < len(cuts); i++ {
		pieces = append(pieces, p[cuts[i-1]:cuts[i]])
	}
	return pieces
}

// writeMessage sends p as a message of ec's type: with Conn.Write, or for a
// fragmented case with Conn.Writer in the pieces of fragments, so that a
// connection with a WriteBufferSize of fragBufferSize sends a message
// larger than that in several frames, cut anywhere, inside UTF-8 sequences
// too.
func writeMessage(ctx context.Context, c *websocket.Conn, ec echoCase, p []byte) error {
	if !ec.Frag {
		return c.Write(ctx, ec.messageType(), p)
	}
	w, err := c.Writer(ctx, ec.messageType())
	if err != nil {
		return err
	}
	for _, piece := range fragments(p) {
		if _, err := w.Write(piece); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

// readToEnd reads until the connection ends, and returns the error it ended
// with (the peer's CloseError, normally) and the number of messages read on
// the way.
func readToEnd(ctx context.Context, c *websocket.Conn) (int, error) {
	for n := 0; ; n++ {
		if _, _, err := c.Read(ctx); err != nil {
			return n, err
		}
	}
}

// wantClose checks that err is the peer's close frame want.
func wantClose(t *testing.T, who string, err error, want websocket.CloseError) {
	t.Helper()
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce != want {
		t.Errorf("%s: connection ended with %v, want the close frame %v %q", who, err, want.Code, want.Reason)
	}
}

// mailbox hands values, by key, from the goroutines that produce them to
// the test that waits for them.
type mailbox[T any] struct {
	mu    sync.Mutex
	boxes map[string]chan T // guarded by mu
}

func (m *mailbox[T]) box(key string) chan T {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.boxes == nil {
		m.boxes = make(map[string]chan T)
	}
	b, ok := m.boxes[key]
	if !ok {
		b = make(chan T, 1)
		m.boxes[key] = b
	}
	return b
}

// put delivers v. A second value for the same key is dropped: every key is
// used once.
func (m *mailbox[T]) put(key string, v T) {
	select {
	case m.box(key) <- v:
	default:
	}
}

// ourServer is the server the peers' clients talk to: an httptest server on
// 127.0.0.1 that serves /payload and a WebSocket endpoint per compression
// mode and scenario, /ws/{mode}/{scenario}, and hands what each endpoint
// saw to the test. The mode is "plain", or the name of one of the
// server's deflateConfigs, whose only scenario is the echo. Its
// connections are tapped (wiretap_test.go); a deflate echo records what
// the tap saw.
type ourServer struct {
	url     string // http://127.0.0.1:port
	mux     *http.ServeMux
	cases   []echoCase // of the plain echo, in order
	configs map[string]deflateConfig
	// ctx is done at cleanup, to end the WebSocket handlers.
	ctx     context.Context
	results mailbox[serverResult]
	// handlers counts the WebSocket handlers, which httptest.Server.Close
	// no longer waits for once they hijacked the connection.
	handlers sync.WaitGroup
}

// serverResult is what our server saw in a scenario.
type serverResult struct {
	err error // the first thing that went wrong; nil if nothing did
	end error // the error the connection's last read ended with

	// Of a deflate echo only:
	offer  string // the request's Sec-WebSocket-Extensions
	ours   websocket.DeflateParams
	oursOK bool
	// read and written are what the tap saw: written has the response.
	read, written wireRecord
}

// tapKey is the request context key of the connection's wireTap.
type tapKey struct{}

type tapListener struct{ net.Listener }

func (l tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newWireTap(c, false), nil
}

// newOurServer starts a server for the plain scenarios and the deflate
// echo of each of configs.
func newOurServer(t *testing.T, configs []deflateConfig) *ourServer {
	ctx, cancel := context.WithCancel(context.Background())
	s := &ourServer{mux: http.NewServeMux(), cases: echoCases(), configs: make(map[string]deflateConfig), ctx: ctx}
	for _, cfg := range configs {
		s.configs[cfg.name] = cfg
	}
	s.mux.HandleFunc("GET /payload", s.servePayload)
	s.mux.HandleFunc("GET /ws/{mode}/{scenario}", s.serveWebSocket)
	hs := httptest.NewUnstartedServer(s.mux)
	hs.Listener = tapListener{hs.Listener}
	hs.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, tapKey{}, c)
	}
	hs.Start()
	s.url = hs.URL
	t.Cleanup(func() {
		cancel()
		hs.Close() // after which no handler can start
		s.handlers.Wait()
	})
	return s
}

// wsURL is the WebSocket endpoint of a scenario in a mode.
func (s *ourServer) wsURL(mode, scenario string) string {
	return "ws" + strings.TrimPrefix(s.url, "http") + "/ws/" + mode + "/" + scenario
}

func (s *ourServer) servePayload(w http.ResponseWriter, r *http.Request) {
	typ := r.FormValue("type")
	size, err := strconv.Atoi(r.FormValue("size"))
	if typ != "text" && typ != "json" && typ != "binary" || err != nil || size < 0 || size > interopMaxSize {
		http.Error(w, "want type=text|json|binary&size=N", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(payload(typ, size))
}

func (s *ourServer) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Done()
	mode, scenario := r.PathValue("mode"), r.PathValue("scenario")
	key := mode + "/" + scenario
	if mode != "plain" {
		s.serveDeflate(w, r, mode, scenario)
		return
	}
	var run func(context.Context, *websocket.Conn) serverResult
	switch scenario {
	case "echo":
		run = func(ctx context.Context, c *websocket.Conn) serverResult { return s.echo(ctx, c, s.cases) }
	case "ping":
		run = s.ping
	case "close-by-client":
		run = s.closeByClient
	case "close-by-server":
		run = s.closeByServer
	default:
		http.NotFound(w, r)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{ConnOptions: interopConnOptions(true)})
	if err != nil {
		s.results.put(key, serverResult{err: fmt.Errorf("accept: %w", err)})
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, interopTimeout)
	res := run(ctx, c)
	cancel()
	c.CloseNow()
	s.results.put(key, res)
}

// serveDeflate serves the echo of configuration name, tapped.
func (s *ourServer) serveDeflate(w http.ResponseWriter, r *http.Request, name, scenario string) {
	cfg, ok := s.configs[name]
	if !ok || scenario != "echo" {
		http.NotFound(w, r)
		return
	}
	key := name + "/" + scenario
	tap := r.Context().Value(tapKey{}).(*wireTap)
	tap.startServer()
	res := serverResult{offer: strings.Join(r.Header.Values("Sec-WebSocket-Extensions"), ", ")}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{ConnOptions: deflateConnOptions(cfg.ours)})
	if err != nil {
		res.err = fmt.Errorf("accept: %w", err)
		s.results.put(key, res)
		return
	}
	res.ours, res.oursOK = websocket.DeflateAgreed(c)
	ctx, cancel := context.WithTimeout(s.ctx, interopTimeout)
	echoed := s.echo(ctx, c, deflateCases(cfg.big))
	res.err, res.end = echoed.err, echoed.end
	cancel()
	c.CloseNow()
	res.read, res.written = tap.read.record(), tap.written.record()
	s.results.put(key, res)
}

// echo reads the messages of cases in order, checks each and echoes it, in
// fragments for a fragmented case, then reads until the peer closes.
func (s *ourServer) echo(ctx context.Context, c *websocket.Conn, cases []echoCase) serverResult {
	var buf []byte
	for _, ec := range cases {
		typ, p, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			return serverResult{err: fmt.Errorf("reading %v: %w", ec, err)}
		}
		buf = p
		if err := ec.check(typ, p); err != nil {
			return serverResult{err: fmt.Errorf("received %v: %w", ec, err)}
		}
		if err := writeMessage(ctx, c, ec, p); err != nil {
			return serverResult{err: fmt.Errorf("echoing %v: %w", ec, err)}
		}
	}
	n, err := readToEnd(ctx, c)
	res := serverResult{end: err}
	if n > 0 {
		res.err = fmt.Errorf("%d messages after the last case", n)
	}
	return res
}

// ping pings the peer while reading, which also answers the peer's pings,
// and sends "!pinged" once the pong came, or "!ping failed: ..."; then it
// reads until the peer closes.
func (s *ourServer) ping(ctx context.Context, c *websocket.Conn) serverResult {
	pinged := make(chan error, 1)
	go func() {
		err := c.Ping(ctx)
		msg := "!pinged"
		if err != nil {
			msg = "!ping failed: " + err.Error()
		}
		if werr := c.Write(ctx, websocket.MessageText, []byte(msg)); err == nil {
			err = werr
		}
		pinged <- err
	}()
	n, end := readToEnd(ctx, c)
	res := serverResult{err: <-pinged, end: end}
	if res.err == nil && n > 0 {
		res.err = fmt.Errorf("%d unexpected messages", n)
	}
	return res
}

// closeByClient reads until the peer closes.
func (s *ourServer) closeByClient(ctx context.Context, c *websocket.Conn) serverResult {
	n, end := readToEnd(ctx, c)
	res := serverResult{end: end}
	if n > 0 {
		res.err = fmt.Errorf("%d unexpected messages", n)
	}
	return res
}

// closeByServer closes the connection at once.
func (s *ourServer) closeByServer(_ context.Context, c *websocket.Conn) serverResult {
	return serverResult{err: c.Close(codeOurServer, reasonOurServer)}
}

// result waits for what our server saw at the endpoint of a mode and
// scenario.
func (s *ourServer) result(t *testing.T, mode, scenario string) serverResult {
	t.Helper()
	timer := time.NewTimer(interopTimeout)
	defer timer.Stop()
	select {
	case res := <-s.results.box(mode + "/" + scenario):
		return res
	case <-timer.C:
	}
	t.Fatalf("our server saw no %s %s connection end within %v", mode, scenario, interopTimeout)
	return serverResult{}
}

// theirScenarios are the plain scenarios a peer's client runs against our
// server.
var theirScenarios = []string{"echo", "ping", "close-by-client", "close-by-server"}

// clientReport is the JSON line that a peer's client prints for a scenario.
type clientReport struct {
	Error    string `json:"error"`   // the first thing that went wrong, "" if none
	Checked  int    `json:"checked"` // echoes checked
	Code     int    `json:"code"`    // of the close frame received
	Reason   string `json:"reason"`
	WasClean *bool  `json:"wasClean"` // a browser's CloseEvent.wasClean
	// Of the echo: the Sec-WebSocket-Extensions of the handshake response,
	// and the permessage-deflate parameters in effect, where the peer can
	// tell (null when none were agreed). A peer's server answers
	// "!extensions" with these two.
	Response *string        `json:"response"`
	Agreed   *deflateParams `json:"agreed"`
}

// derefOr returns *p, or def if p is nil.
func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// peerClient runs a peer's client with its arguments: the scenario, its
// WebSocket URL, our server's URL, the compression options and the
// scenario's own arguments.
type peerClient func(t *testing.T, args ...string) clientReport

// testTheirClient runs a peer's client against our server: every plain
// scenario, or with compression the deflate echo of every configuration.
//
// The scenarios run one after another, not in parallel: a parallel subtest
// can wait long for its turn, under go test -parallel, while the test that
// started the server keeps it running.
func testTheirClient(t *testing.T, peer string, compression bool, run peerClient) {
	if !compression {
		s := newOurServer(t, nil)
		cases, err := json.Marshal(s.cases)
		if err != nil {
			t.Fatal(err)
		}
		args := map[string][]string{
			"echo":            {string(cases)},
			"close-by-client": {strconv.Itoa(int(codeTheirClient)), theirReason(peer, "client")},
		}
		for _, scenario := range theirScenarios {
			t.Run(scenario, func(t *testing.T) {
				rep := run(t, append([]string{scenario, s.wsURL("plain", scenario), s.url, "off"}, args[scenario]...)...)
				s.checkTheirClient(t, peer, scenario, rep)
			})
		}
		return
	}
	s := newOurServer(t, deflateConfigs)
	for _, cfg := range deflateConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			theirs, err := json.Marshal(cfg.theirs)
			if err != nil {
				t.Fatal(err)
			}
			cases, err := json.Marshal(deflateCases(cfg.big))
			if err != nil {
				t.Fatal(err)
			}
			rep := run(t, "echo", s.wsURL(cfg.name, "echo"), s.url, string(theirs), string(cases))
			s.checkTheirDeflate(t, peer, true, cfg, rep)
		})
	}
}

// checkTheirClient checks a plain scenario that a peer's client ran against
// our server: the client's report, and what our server saw.
func (s *ourServer) checkTheirClient(t *testing.T, peer, scenario string, rep clientReport) {
	t.Helper()
	res := s.result(t, "plain", scenario)
	if rep.Error != "" {
		t.Errorf("%s client: %s", peer, rep.Error)
	}
	if res.err != nil {
		t.Errorf("our server: %v", res.err)
	}
	// The close code the peer got back: ours, or the echo of its own.
	wantCode, wantReason := websocket.StatusNormalClosure, ""
	switch scenario {
	case "echo":
		if rep.Checked != len(s.cases) {
			t.Errorf("%s client checked %d echoes, want %d", peer, rep.Checked, len(s.cases))
		}
		if rep.Response != nil && *rep.Response != "" || rep.Agreed != nil {
			t.Errorf("%s client saw the extensions %q agreed (%+v), want none", peer, derefOr(rep.Response, ""), rep.Agreed)
		}
		wantClose(t, "our server", res.end, websocket.CloseError{Code: websocket.StatusNormalClosure})
	case "ping":
		wantClose(t, "our server", res.end, websocket.CloseError{Code: websocket.StatusNormalClosure})
	case "close-by-client":
		wantClose(t, "our server", res.end, websocket.CloseError{Code: codeTheirClient, Reason: theirReason(peer, "client")})
		wantCode = codeTheirClient
	case "close-by-server":
		wantCode, wantReason = codeOurServer, reasonOurServer
	}
	if rep.Error == "" && (rep.Code != int(wantCode) || wantReason != "" && rep.Reason != wantReason) {
		t.Errorf("%s client got the close frame %d %q, want %d %q", peer, rep.Code, rep.Reason, wantCode, wantReason)
	}
	if rep.WasClean != nil && !*rep.WasClean {
		t.Errorf("%s client: the connection did not close cleanly", peer)
	}
}

// runPeerClient runs a peer's client for one scenario and returns its
// report. argv is the command; its third word is the scenario.
func runPeerClient(t *testing.T, env []string, argv ...string) clientReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), interopTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	what := strings.Join(argv[1:min(3, len(argv))], " ")
	if stderr.Len() > 0 {
		t.Logf("%s: stderr:\n%s", what, stderr.Bytes())
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var rep clientReport
	line := bytes.TrimSpace(out)
	line = line[bytes.LastIndexByte(line, '\n')+1:]
	if err := json.Unmarshal(line, &rep); err != nil {
		t.Fatalf("%s: bad report %q: %v", what, out, err)
	}
	return rep
}

// peerServer is a peer's echo server, running.
type peerServer struct {
	url    string // ws://127.0.0.1:port
	events mailbox[peerEvent]
	exited chan struct{} // closed when its standard output ends

	mu     sync.Mutex
	output []string // lines of standard output that are not events; guarded by mu
}

// peerEvent is the JSON line a peer's server prints when a connection ends:
// the close frame it received.
type peerEvent struct {
	Path   string `json:"path"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// startPeerServer starts a peer's echo server, argv, and reads the port it
// listens on. The server is killed at cleanup; it also exits by itself
// when its standard input ends, should this process die first.
func startPeerServer(t *testing.T, env []string, argv ...string) *peerServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), peerServerTimeout)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer // read after Wait
	cmd.Stderr = &stderr
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		stdout.Close()
		cancel()
		t.Fatal(err)
	}
	ps := &peerServer{exited: make(chan struct{})}
	port := make(chan string, 1)
	go ps.readStdout(stdout, port)
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		stdout.Close()
		<-ps.exited
		if t.Failed() {
			ps.mu.Lock()
			defer ps.mu.Unlock()
			t.Logf("%s: stdout:\n%s\nstderr:\n%s", argv[1], strings.Join(ps.output, "\n"), stderr.Bytes())
		}
	})
	select {
	case p := <-port:
		ps.url = "ws://127.0.0.1:" + p
	case <-ps.exited:
		t.Fatalf("%s exited before printing its port", argv[1])
	case <-time.After(interopTimeout):
		t.Fatalf("%s printed no port within %v", argv[1], interopTimeout)
	}
	return ps
}

// readStdout reads the port from the server's first line, then events.
func (ps *peerServer) readStdout(r io.Reader, port chan<- string) {
	defer close(ps.exited)
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return
	}
	if _, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
		port <- strings.TrimSpace(sc.Text())
	}
	for sc.Scan() {
		var ev peerEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Path == "" {
			ps.mu.Lock()
			ps.output = append(ps.output, sc.Text())
			ps.mu.Unlock()
			continue
		}
		ps.events.put(ev.Path, ev)
	}
}

// event waits for the close frame that the server received on the
// connection to path.
func (ps *peerServer) event(t *testing.T, path string) peerEvent {
	t.Helper()
	timer := time.NewTimer(interopTimeout)
	defer timer.Stop()
	select {
	case ev := <-ps.events.box(path):
		return ev
	case <-ps.exited:
		t.Fatalf("peer server exited before %s ended", path)
	case <-timer.C:
		t.Fatalf("peer server did not see %s end within %v", path, interopTimeout)
	}
	return peerEvent{}
}

// peerServerStarter starts a peer's echo server with the compression
// options: "off", "null" for its defaults, or RFC 7692 parameters as JSON.
type peerServerStarter func(t *testing.T, options string) *peerServer

// testOurClient runs our client against a peer's echo server: every plain
// scenario, or with compression the deflate echo of every configuration
// (testDeflateOurClient; the peer's server's defaults limit windows to
// maxBits), one after another, as testTheirClient does.
func testOurClient(t *testing.T, peer string, compression bool, maxBits int, start peerServerStarter) {
	if compression {
		testDeflateOurClient(t, peer, maxBits, start)
		return
	}
	ps := start(t, "off")
	dial := func(t *testing.T, ctx context.Context, path string, frag bool) *websocket.Conn {
		t.Helper()
		opts := &websocket.DialOptions{ConnOptions: interopConnOptions(frag)}
		c, _, err := websocket.Dial(ctx, ps.url+path, opts)
		if err != nil {
			t.Fatalf("dial %s: %v", path, err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	withTimeout := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), interopTimeout)
		t.Cleanup(cancel)
		return ctx
	}

	// echo: whole messages on /echo/, which the server echoes whole;
	// fragmented ones on /echo-frag/, which it echoes in fragments.
	for _, frag := range []bool{false, true} {
		name, path := "echo", "/echo/whole"
		if frag {
			name, path = "echo-frag", "/echo-frag/frag"
		}
		t.Run(name, func(t *testing.T) {
			ctx := withTimeout(t)
			c := dial(t, ctx, path, frag)
			for _, ec := range echoCases(frag) {
				t.Run(ec.String(), func(t *testing.T) {
					want := payload(ec.Type, ec.Size)
					if err := writeMessage(ctx, c, ec, want); err != nil {
						t.Fatalf("write: %v", err)
					}
					typ, got, err := c.Read(ctx)
					if err != nil {
						t.Fatalf("read: %v", err)
					}
					if err := ec.check(typ, got); err != nil {
						t.Errorf("echo: %v", err)
					}
				})
			}
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Errorf("Close: %v", err)
			}
			if ev := ps.event(t, path); ev.Code != int(websocket.StatusNormalClosure) {
				t.Errorf("%s server got the close frame %d %q, want 1000", peer, ev.Code, ev.Reason)
			}
		})
	}

	t.Run("ping-by-us", func(t *testing.T) {
		ctx := withTimeout(t)
		c := dial(t, ctx, "/echo/ping-by-us", false)
		type readResult struct {
			n   int
			err error
		}
		read := make(chan readResult, 1)
		go func() {
			n, err := readToEnd(ctx, c)
			read <- readResult{n, err}
		}()
		for i := range 3 {
			if err := c.Ping(ctx); err != nil {
				t.Errorf("ping %d: %v", i, err)
				break
			}
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("Close: %v", err)
		}
		r := <-read
		if r.n > 0 {
			t.Errorf("read %d unexpected messages", r.n)
		}
		wantClose(t, "our client", r.err, websocket.CloseError{Code: websocket.StatusNormalClosure})
	})

	t.Run("ping-by-peer", func(t *testing.T) {
		ctx := withTimeout(t)
		c := dial(t, ctx, "/echo/ping-by-peer", false)
		if err := c.Write(ctx, websocket.MessageText, []byte("!ping")); err != nil {
			t.Fatalf("write: %v", err)
		}
		// Reading answers the server's ping; it sends "!pong" when our
		// pong came.
		typ, msg, err := c.Read(ctx)
		if err != nil || typ != websocket.MessageText || string(msg) != "!pong" {
			t.Errorf("Read: %v %q %v, want MessageText \"!pong\"", typ, msg, err)
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	t.Run("close-by-us", func(t *testing.T) {
		const path = "/echo/close-by-us"
		c := dial(t, withTimeout(t), path, false)
		if err := c.Close(codeOurClient, reasonOurClient); err != nil {
			t.Errorf("Close: %v", err)
		}
		if ev := ps.event(t, path); ev.Code != int(codeOurClient) || ev.Reason != reasonOurClient {
			t.Errorf("%s server got the close frame %d %q, want %d %q", peer, ev.Code, ev.Reason, codeOurClient, reasonOurClient)
		}
	})

	t.Run("close-by-peer", func(t *testing.T) {
		const path = "/echo/close-by-peer"
		ctx := withTimeout(t)
		c := dial(t, ctx, path, false)
		reason := theirReason(peer, "server")
		cmd := fmt.Sprintf("!close %d %s", codeTheirServer, reason)
		if err := c.Write(ctx, websocket.MessageText, []byte(cmd)); err != nil {
			t.Fatalf("write: %v", err)
		}
		n, err := readToEnd(ctx, c)
		if n > 0 {
			t.Errorf("read %d unexpected messages", n)
		}
		wantClose(t, "our client", err, websocket.CloseError{Code: codeTheirServer, Reason: reason})
		// Our answer echoes the code.
		if ev := ps.event(t, path); ev.Code != int(codeTheirServer) {
			t.Errorf("%s server got the close frame %d %q, want %d", peer, ev.Code, ev.Reason, codeTheirServer)
		}
	})
}

// testInterop runs the suite with a peer's client and server: in the
// subtests "plain" and "deflate", the peer's client against our server and
// our client against the peer's server, all four in parallel.
func testInterop(t *testing.T, peer string, maxBits int, client peerClient, server peerServerStarter) {
	for _, mode := range []string{"plain", "deflate"} {
		compression := mode == "deflate"
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			t.Run("their_client", func(t *testing.T) {
				t.Parallel()
				testTheirClient(t, peer, compression, client)
			})
			t.Run("our_client", func(t *testing.T) {
				t.Parallel()
				testOurClient(t, peer, compression, maxBits, server)
			})
		})
	}
}
