package websocket_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wsdeck/wsdeck/websocket"
)

// The deflate half of the interop suite (interop_test.go) runs the echo
// over connections that negotiated permessage-deflate (RFC 7692), under the
// parameter combinations that matter (deflateConfigs), with every peer.
//
// Each connection is checked three ways:
//
//   - the agreement: the Sec-WebSocket-Extensions of the handshake
//     response, as it went over the wire, our Conn's (DeflateAgreed) and
//     the peer's, which its script reports, all equal what the
//     configuration should give;
//   - the content: every echo, byte for byte, on both sides;
//   - the wire: a wireTap under our side of the connection sees which
//     messages traveled compressed, and in how many bytes and frames, and
//     scanDeflate checks that each side's compressed data stays within the
//     agreed window, refers to nothing before its message without context
//     takeover, and does refer to earlier messages with it.

// deflateBufferSize is the WriteBufferSize of our side: small, so that a
// message written with Conn.Writer goes in several compressed frames.
const deflateBufferSize = 1024

// streamedSize is the size from which a message written with Conn.Writer
// must go in several frames: a compressor buffers some input before its
// first output (64 KiB, with a 15-bit window, for internal/deflate), but a
// writer that holds a whole large message does not stream.
const streamedSize = 256 << 10

// deflateParams are the parameters of permessage-deflate (RFC 7692 section
// 7.1). As the options of a peer, in JSON for its script, a parameter left
// out leaves the peer's default; as an agreement, a window absent from the
// response is 15 bits.
type deflateParams struct {
	ServerNoContextTakeover bool `json:"server_no_context_takeover,omitempty"`
	ClientNoContextTakeover bool `json:"client_no_context_takeover,omitempty"`
	ServerMaxWindowBits     int  `json:"server_max_window_bits,omitempty"`
	ClientMaxWindowBits     int  `json:"client_max_window_bits,omitempty"`
}

// deflateConfig is one combination of settings on our side and the peer's.
type deflateConfig struct {
	name   string
	ours   websocket.CompressionOptions
	theirs *deflateParams // the peer's options; nil for its defaults
	// want is the agreement, with a peer whose defaults leave the windows
	// at 15 bits, when our side is the server (see wantAsClient).
	want deflateParams
	big  bool // with the largest messages
	// mirror swaps the windows of ours and want when our side is the
	// client, so that our compressor has the same window either way round.
	mirror bool
}

// deflateConfigs are the configurations every peer runs, each way round;
// Chromium, which cannot be configured, runs those with theirs nil. zlib,
// under the peers, cannot compress with an 8-bit window (it can inflate
// with one), so only our compressor gets 8 bits.
var deflateConfigs = []deflateConfig{
	{
		name: "default",
		want: deflateParams{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15},
		big:  true,
	},
	{
		name: "no_context_takeover_ours",
		ours: websocket.CompressionOptions{NoContextTakeover: true},
		want: deflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15},
	},
	{
		name:   "server_no_context_takeover_theirs",
		theirs: &deflateParams{ServerNoContextTakeover: true},
		want:   deflateParams{ServerNoContextTakeover: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15},
	},
	{
		name:   "client_no_context_takeover_theirs",
		theirs: &deflateParams{ClientNoContextTakeover: true},
		want:   deflateParams{ClientNoContextTakeover: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15},
	},
	{
		// A threshold below 0 compresses the smallest messages too.
		name: "windows_ours",
		ours: websocket.CompressionOptions{ServerMaxWindowBits: 10, ClientMaxWindowBits: 9, Threshold: -1},
		want: deflateParams{ServerMaxWindowBits: 10, ClientMaxWindowBits: 9},
	},
	{
		name:   "windows_theirs",
		theirs: &deflateParams{ServerMaxWindowBits: 10, ClientMaxWindowBits: 9},
		want:   deflateParams{ServerMaxWindowBits: 10, ClientMaxWindowBits: 9},
	},
	{
		name:   "window8_ours",
		ours:   websocket.CompressionOptions{ServerMaxWindowBits: 8, ClientMaxWindowBits: 9, Threshold: -1},
		want:   deflateParams{ServerMaxWindowBits: 8, ClientMaxWindowBits: 9},
		mirror: true,
	},
	{
		name: "no_context_takeover_windows_ours",
		ours: websocket.CompressionOptions{NoContextTakeover: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 9, Level: 9},
		want: deflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 9},
	},
}

// oursAsClient returns our options when our side is the client.
func (cfg deflateConfig) oursAsClient() websocket.CompressionOptions {
	o := cfg.ours
	if cfg.mirror {
		o.ServerMaxWindowBits, o.ClientMaxWindowBits = o.ClientMaxWindowBits, o.ServerMaxWindowBits
	}
	return o
}

// wantAsClient returns the agreement when our side is the client, with a
// peer's server whose defaults limit both windows to maxBits:
// python3-websockets' server answers with 12-bit windows unless told
// otherwise.
func (cfg deflateConfig) wantAsClient(maxBits int) deflateParams {
	w := cfg.want
	if cfg.mirror {
		w.ServerMaxWindowBits, w.ClientMaxWindowBits = w.ClientMaxWindowBits, w.ServerMaxWindowBits
	}
	if cfg.theirs == nil {
		w.ServerMaxWindowBits = min(w.ServerMaxWindowBits, maxBits)
		w.ClientMaxWindowBits = min(w.ClientMaxWindowBits, maxBits)
	}
	return w
}

// threshold is the size from which our Conn.Write compresses.
func (cfg deflateConfig) threshold() int {
	switch t := cfg.ours.Threshold; {
	case t == 0:
		return websocket.DefaultCompressionThreshold
	case t < 0:
		return 0
	default:
		return t
	}
}

// deflateConnOptions returns our side's options: o, with compression on.
func deflateConnOptions(o websocket.CompressionOptions) websocket.ConnOptions {
	o.Enabled = true
	return websocket.ConnOptions{MaxMessageSize: interopMaxSize, WriteBufferSize: deflateBufferSize, Compression: o}
}

// parseAgreement reads the Sec-WebSocket-Extensions of a handshake response
// that agreed permessage-deflate.
func parseAgreement(h string) (deflateParams, error) {
	p := deflateParams{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	if strings.Contains(h, ",") {
		return p, errors.New("more than one extension")
	}
	elems := strings.Split(h, ";")
	if strings.TrimSpace(elems[0]) != "permessage-deflate" {
		return p, errors.New("not permessage-deflate")
	}
	for _, e := range elems[1:] {
		name, value, _ := strings.Cut(e, "=")
		name, value = strings.TrimSpace(name), strings.Trim(strings.TrimSpace(value), `"`)
		switch name {
		case "server_no_context_takeover":
			p.ServerNoContextTakeover = true
		case "client_no_context_takeover":
			p.ClientNoContextTakeover = true
		case "server_max_window_bits", "client_max_window_bits":
			bits, err := strconv.Atoi(value)
			if err != nil || bits < 8 || bits > 15 {
				return p, fmt.Errorf("%s=%q", name, value)
			}
			if name == "server_max_window_bits" {
				p.ServerMaxWindowBits = bits
			} else {
				p.ClientMaxWindowBits = bits
			}
		default:
			return p, fmt.Errorf("unknown parameter %q", name)
		}
	}
	return p, nil
}

// deflateCases returns the echo's messages: compressible text from empty
// to 1 MiB, about our Conn.Write's threshold too; incompressible binary;
// repeats, which context takeover compresses to almost nothing (the
// 200-byte one within the reach of the smallest zlib window used, 9 bits:
// 250 bytes); fragmented messages, from empty to large enough that our
// Conn.Writer must send several frames (see streamedSize); and, if big,
// 4 MiB of text.
func deflateCases(big bool) []echoCase {
	var cases []echoCase
	add := func(typ string, frag bool, sizes ...int) {
		for _, size := range sizes {
			cases = append(cases, echoCase{Type: typ, Size: size, Frag: frag})
		}
	}
	add("json", false, 0, 1, 127, 128, 1024, 65535, 65536, 1<<20)
	add("binary", false, 0, 126, 65536, 256<<10)
	add("json", false, 200, 200, 200, 200, 16<<10, 16<<10)
	add("json", true, 0, 1024, 65536, 256<<10)
	add("binary", true, 65536, 256<<10)
	if big {
		add("json", false, 4<<20)
		add("binary", false, 1<<20)
		add("json", true, 1<<20)
	}
	return cases
}

// jsonLike returns size bytes of text like a JSON API's responses: records
// of a few fields whose values, some not ASCII, come from small sets, from
// a generator seeded with the size. It is cut at size, on a character.
func jsonLike(size int) []byte {
	var seed [32]byte
	copy(seed[:], "json "+strconv.Itoa(size))
	rng := rand.New(rand.NewChaCha8(seed))
	users := []string{"alice", "bob", "zoë", "renée", "日本太郎", "Ωmega", "carol", "dave"}
	tags := []string{"alpha", "beta", "gamma", "δέλτα", "ε", "zeta"}
	notes := []string{"ok", "retry later", "naïve café", "€ 12,50", "😀 done", "queued"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	b := make([]byte, 0, size+256)
	b = append(b, '[')
	for id := 1; len(b) < size; id++ {
		b = fmt.Appendf(b, `{"id":%d,"user":%q,"active":%t,"score":%d.%03d,"tags":[%q,%q],"note":%q},`+"\n",
			id*7+rng.IntN(5), pick(users), rng.IntN(2) == 1, rng.IntN(100), rng.IntN(1000), pick(tags), pick(tags), pick(notes))
	}
	b = b[:size]
	if !utf8.Valid(b) {
		i := len(b) - 1
		for i > 0 && !utf8.RuneStart(b[i]) {
			i--
		}
		for ; i < len(b); i++ {
			b[i] = ' '
		}
	}
	return b
}

// msgInfo is what a test knows of a message on a connection, to check how
// it traveled.
type msgInfo struct {
	what string // the case, or a command or reply
	kind string // "json", "binary", or "" for a command or reply
	size int    // -1 if not known
	frag bool
}

func caseInfos(cases []echoCase) []msgInfo {
	infos := make([]msgInfo, len(cases))
	for i, ec := range cases {
		infos[i] = msgInfo{what: ec.String(), kind: ec.Type, size: ec.Size, frag: ec.Frag}
	}
	return infos
}

// deflateConn is one connection of the echo, as both sides saw it.
type deflateConn struct {
	peer   string
	client bool // our side is the client
	// fragments is whether the peer sends fragmented cases in fragments:
	// a browser cannot.
	fragments bool
	cfg       deflateConfig
	want      deflateParams

	offer    string // Sec-WebSocket-Extensions of the handshake request
	response string // and of the response, as it went over the wire
	ours     deflateParams
	oursOK   bool           // our Conn agreed permessage-deflate
	theirs   *deflateParams // the peer's agreement, nil if it reports none
	// theirResponse is the response's Sec-WebSocket-Extensions as the peer
	// saw or sent it, nil if it reports none.
	theirResponse *string

	sent, received []msgInfo  // by our side
	wireSent       wireRecord // what the tap saw
	wireReceived   wireRecord
}

// checkAgreement checks that both sides agreed the configuration's
// parameters.
func (dc *deflateConn) checkAgreement(t *testing.T) {
	t.Helper()
	t.Logf("%s: offer %q, response %q", dc.peer, dc.offer, dc.response)
	if got, err := parseAgreement(dc.response); err != nil {
		t.Errorf("handshake response: Sec-WebSocket-Extensions %q: %v", dc.response, err)
	} else if got != dc.want {
		t.Errorf("handshake response: Sec-WebSocket-Extensions %q agrees %+v, want %+v", dc.response, got, dc.want)
	}
	if !dc.oursOK {
		t.Errorf("our Conn did not agree permessage-deflate")
	} else if dc.ours != dc.want {
		t.Errorf("our Conn agreed %+v, want %+v", dc.ours, dc.want)
	}
	if dc.theirs == nil && dc.theirResponse == nil {
		t.Errorf("%s reports no permessage-deflate", dc.peer)
	}
	if dc.theirs != nil && *dc.theirs != dc.want {
		t.Errorf("%s agreed %+v, want %+v", dc.peer, *dc.theirs, dc.want)
	}
	if dc.theirResponse != nil {
		if got, err := parseAgreement(*dc.theirResponse); err != nil || got != dc.want {
			t.Errorf("%s saw the response Sec-WebSocket-Extensions %q (%v), which agrees %+v, want %+v", dc.peer, *dc.theirResponse, err, got, dc.want)
		}
	}
}

// checkWire checks how the messages traveled, each way. If the echo did
// not complete, it checks those that did travel.
func (dc *deflateConn) checkWire(t *testing.T, complete bool) {
	t.Helper()
	ours, theirs := "our server", dc.peer+" client"
	ourNoCT, ourBits := dc.want.ServerNoContextTakeover, dc.want.ServerMaxWindowBits
	theirNoCT, theirBits := dc.want.ClientNoContextTakeover, dc.want.ClientMaxWindowBits
	if dc.client {
		ours, theirs = "our client", dc.peer+" server"
		ourNoCT, theirNoCT = theirNoCT, ourNoCT
		ourBits, theirBits = theirBits, ourBits
	}
	dc.checkDirection(t, ours, true, complete, dc.wireSent, dc.sent, ourBits, ourNoCT)
	dc.checkDirection(t, theirs, false, complete, dc.wireReceived, dc.received, theirBits, theirNoCT)
}

// checkDirection checks the messages that one side sent: which were
// compressed, how much, and what their compressed data refers to.
func (dc *deflateConn) checkDirection(t *testing.T, who string, ours, complete bool, rec wireRecord, infos []msgInfo, bits int, noContextTakeover bool) {
	t.Helper()
	for _, p := range rec.problems {
		t.Errorf("%s, on the wire: %s", who, p)
	}
	if complete && len(rec.msgs) != len(infos) {
		t.Errorf("%s sent %d messages, want %d", who, len(rec.msgs), len(infos))
		return
	}
	var (
		hist                         int64 // what the compressed messages so far decompress to
		compressed, referred, frames int
		size, wire                   int64 // of the compressed messages
		maxDist                      int
	)
	for i, m := range rec.msgs[:min(len(rec.msgs), len(infos))] {
		info := infos[i]
		if m.frames > 1 {
			frames++
		}
		if ours {
			if want := info.frag || info.size >= dc.cfg.threshold(); m.compressed != want {
				t.Errorf("%s sent %s compressed %v, want %v", who, info.what, m.compressed, want)
			}
			if info.frag && info.size >= streamedSize && m.frames < 2 {
				t.Errorf("%s sent %s, written in pieces, in %d frame", who, info.what, m.frames)
			}
		} else {
			if info.kind == "json" && !info.frag && info.size >= 1024 && !m.compressed {
				t.Errorf("%s sent %s uncompressed", who, info.what)
			}
			if info.frag && dc.fragments && m.frames < 2 {
				t.Errorf("%s sent %s, to go in fragments, in %d frame", who, info.what, m.frames)
			}
		}
		if !m.compressed {
			continue
		}
		compressed++
		wire += m.wireSize
		refs, err := scanDeflate(m.data, hist)
		if err != nil {
			t.Errorf("%s sent %s as DEFLATE data we cannot follow: %v", who, info.what, err)
			continue
		}
		hist += refs.size
		size += refs.size
		if info.size >= 0 && refs.size != int64(info.size) {
			t.Errorf("%s sent %s, whose DEFLATE data stands for %d bytes", who, info.what, refs.size)
		}
		if refs.maxDist > 1<<bits {
			t.Errorf("%s sent %s with a back-reference of %d bytes, beyond the %d-bit window agreed", who, info.what, refs.maxDist, bits)
		}
		maxDist = max(maxDist, refs.maxDist)
		if refs.reach > 0 {
			referred++
			if noContextTakeover {
				t.Errorf("%s sent %s with a back-reference %d bytes before its start, without context takeover", who, info.what, refs.reach)
			}
		}
		if info.kind == "json" && info.size >= 1024 && m.wireSize*10 > int64(info.size)*9 {
			t.Errorf("%s sent %s in %d bytes: hardly compressed", who, info.what, m.wireSize)
		}
	}
	// The peers' zlib refers to earlier messages where it can; so does our
	// compressor with a 15-bit window. One with a smaller window may not.
	if complete && !noContextTakeover && referred == 0 && (!ours || bits == 15) {
		t.Errorf("%s: no message refers to an earlier one: context takeover unused", who)
	}
	t.Logf("%s sent %d messages, %d in several frames, %d compressed (%d bytes in %d), %d referring to earlier ones; longest distance %d, window %d bits",
		who, len(rec.msgs), frames, compressed, size, wire, referred, maxDist, bits)
}

// responseExtensions returns the Sec-WebSocket-Extensions of a 101
// response's head.
func responseExtensions(head []byte) (string, error) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", "), nil
}

// checkTheirDeflate checks the echo of cfg that a peer's client ran against
// our server: the client's report, what our server saw, and the wire.
// fragments says whether the client sends fragments.
func (s *ourServer) checkTheirDeflate(t *testing.T, peer string, fragments bool, cfg deflateConfig, rep clientReport) {
	t.Helper()
	res := s.result(t, cfg.name, "echo")
	cases := deflateCases(cfg.big)
	if rep.Error != "" {
		t.Errorf("%s client: %s", peer, rep.Error)
	}
	if res.err != nil {
		t.Errorf("our server: %v", res.err)
	}
	if rep.Error == "" {
		if rep.Checked != len(cases) {
			t.Errorf("%s client checked %d echoes, want %d", peer, rep.Checked, len(cases))
		}
		if rep.Code != int(websocket.StatusNormalClosure) {
			t.Errorf("%s client got the close frame %d %q, want 1000", peer, rep.Code, rep.Reason)
		}
		if rep.WasClean != nil && !*rep.WasClean {
			t.Errorf("%s client: the connection did not close cleanly", peer)
		}
	}
	if res.err == nil {
		wantClose(t, "our server", res.end, websocket.CloseError{Code: websocket.StatusNormalClosure})
	}
	response, err := responseExtensions(res.written.head)
	if err != nil {
		t.Fatalf("our server's handshake response %q: %v", res.written.head, err)
	}
	infos := caseInfos(cases)
	dc := &deflateConn{
		peer: peer, fragments: fragments, cfg: cfg, want: cfg.want,
		offer: res.offer, response: response, ours: deflateParams(res.ours), oursOK: res.oursOK,
		theirs: rep.Agreed, theirResponse: rep.Response,
		sent: infos, received: infos, wireSent: res.written, wireReceived: res.read,
	}
	dc.checkAgreement(t)
	dc.checkWire(t, rep.Error == "" && res.err == nil)
}

// testDeflateOurClient runs the echo of every configuration with our
// client against a peer's echo server, one after another. start starts the
// peer's server with its options as JSON; its defaults limit windows to
// maxBits.
func testDeflateOurClient(t *testing.T, peer string, maxBits int, start peerServerStarter) {
	for _, cfg := range deflateConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			theirs, err := json.Marshal(cfg.theirs)
			if err != nil {
				t.Fatal(err)
			}
			ps := start(t, string(theirs))
			ctx, cancel := context.WithTimeout(t.Context(), interopTimeout)
			defer cancel()
			testDeflateOurClientEcho(t, ctx, peer, cfg, cfg.wantAsClient(maxBits), ps)
		})
	}
}

func testDeflateOurClientEcho(t *testing.T, ctx context.Context, peer string, cfg deflateConfig, want deflateParams, ps *peerServer) {
	var tap *wireTap
	opts := &websocket.DialOptions{
		ConnOptions: deflateConnOptions(cfg.oursAsClient()),
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := new(net.Dialer).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tap = newWireTap(nc, true)
			return tap, nil
		},
	}
	path := "/echo/" + cfg.name
	c, resp, err := websocket.Dial(ctx, ps.url+path, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	dc := &deflateConn{
		peer: peer, client: true, fragments: true, cfg: cfg, want: want,
		response: strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", "),
	}
	ours, ok := websocket.DeflateAgreed(c)
	dc.ours, dc.oursOK = deflateParams(ours), ok
	if req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(tap.written.record().head))); err != nil {
		t.Errorf("our handshake request: %v", err)
	} else {
		dc.offer = strings.Join(req.Header.Values("Sec-WebSocket-Extensions"), ", ")
	}

	err = dc.echo(ctx, c, cfg)
	if err != nil {
		t.Error(err)
	} else if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	} else if ev := ps.event(t, path); ev.Code != int(websocket.StatusNormalClosure) {
		t.Errorf("%s server got the close frame %d %q, want 1000", peer, ev.Code, ev.Reason)
	}
	c.CloseNow()
	dc.checkAgreement(t)

	dc.wireSent, dc.wireReceived = tap.written.record(), tap.read.record()
	if onWire, err := responseExtensions(dc.wireReceived.head); err != nil || onWire != dc.response {
		t.Errorf("Dial's response has Sec-WebSocket-Extensions %q; on the wire: %q (%v)", dc.response, onWire, err)
	}
	dc.checkWire(t, err == nil)
}

// echo asks the peer's server for its side of the agreement, then sends
// the cases and checks their echoes, noting each message in dc.
func (dc *deflateConn) echo(ctx context.Context, c *websocket.Conn, cfg deflateConfig) error {
	const ask = "!extensions"
	dc.sent = append(dc.sent, msgInfo{what: ask, size: len(ask)})
	if err := c.Write(ctx, websocket.MessageText, []byte(ask)); err != nil {
		return fmt.Errorf("write %s: %w", ask, err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil {
		return fmt.Errorf("read the answer to %s: %w", ask, err)
	}
	dc.received = append(dc.received, msgInfo{what: "the answer to " + ask, size: -1})
	var rep clientReport
	if err := json.Unmarshal(msg, &rep); err != nil {
		return fmt.Errorf("%s server answered %q: %w", dc.peer, msg, err)
	}
	dc.theirs, dc.theirResponse = rep.Agreed, rep.Response

	for _, ec := range deflateCases(cfg.big) {
		if ec.Frag {
			const frag = "!frag" // the next echo in fragments
			dc.sent = append(dc.sent, msgInfo{what: frag, size: len(frag)})
			if err := c.Write(ctx, websocket.MessageText, []byte(frag)); err != nil {
				return fmt.Errorf("write %s: %w", frag, err)
			}
		}
		info := caseInfos([]echoCase{ec})[0]
		dc.sent = append(dc.sent, info)
		if err := writeMessage(ctx, c, ec, payload(ec.Type, ec.Size)); err != nil {
			return fmt.Errorf("write %v: %w", ec, err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			return fmt.Errorf("read the echo of %v: %w", ec, err)
		}
		dc.received = append(dc.received, info)
		if err := ec.check(typ, got); err != nil {
			return fmt.Errorf("echo of %v: %w", ec, err)
		}
	}
	return nil
}
