package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/wsdeck/wsdeck/bench/internal/load"
	"github.com/wsdeck/wsdeck/bench/internal/server"
)

// IdleBrowserConfig is -measure idle-browser's settings: the memory an
// idle WebSocket costs wsdeck's server when the client is headless
// Chromium with its default offer (permessage-deflate;
// client_max_window_bits), under three server settings.
type IdleBrowserConfig struct {
	Chromium   string        // the browser; the run is skipped (ErrNoChromium) when it is absent
	Conns      int           // sockets per setting
	Sizes      []int         // the one message each socket sends, in bytes: a table per size
	PerContext int           // sockets per browser context (each has its own network context and socket pools)
	Rounds     int           // rounds; the settings alternate within each
	QuietWait  time.Duration // before each setting, wait up to this long for the machine to go quiet
	Timeout    time.Duration // bounds the whole run
	Out        string        // if set, the section is also written to this file
	HeapDir    string        // if set, a heap profile of each server, idle, is written to this directory
	Args       []string      // the command line, for the report
}

// ErrNoChromium is returned by RunIdleBrowser when the browser is absent.
var ErrNoChromium = errors.New("no Chromium")

// idleBrowserMetrics are idleMetrics without the ratios to wsdeck: every
// row is wsdeck.
var idleBrowserMetrics = []metric{
	{name: "RSS/conn", format: fmtBytes},
	{name: "Go heap/conn", format: fmtBytes},
	{name: "stacks/conn", format: fmtBytes},
	{name: "goroutines/conn", format: fmtFloat},
	{name: "RSS total", format: fmtBytes},
}

// browserSetting is one row of the idle-browser table.
type browserSetting struct {
	label    string
	server   string // the harness's server name
	compress bool
	goClient bool // the bench's own Go client (no offer, no message) instead of Chromium
}

var browserSettings = []browserSetting{
	{label: "defaults (compression off: the offer is declined)", server: "wsdeck"},
	{label: "compression on, NoContextTakeover (pooled state)", server: "wsdeck-nocontext", compress: true},
	{label: "compression on, context takeover (the old default)", server: "wsdeck", compress: true},
	{label: "defaults, Go client (reference: no offer, no message)", server: "wsdeck", goClient: true},
}

// RunIdleBrowser opens cfg.Conns WebSockets from headless Chromium to
// wsdeck's echo server under each setting, each sending one message and
// reading its echo, leaves them idle, and reports the server's RSS, Go
// heap and stacks per connection, and the extension Chromium was answered
// with. It writes the section to w (and to cfg.Out if set).
func RunIdleBrowser(cfg IdleBrowserConfig, w io.Writer) error {
	if _, err := os.Stat(cfg.Chromium); err != nil {
		return fmt.Errorf("%w at %s (-chromium names another): %v", ErrNoChromium, cfg.Chromium, err)
	}
	if cfg.Conns <= 0 || cfg.PerContext <= 0 || cfg.Rounds <= 0 || len(cfg.Sizes) == 0 {
		return fmt.Errorf("idle-browser: connections (%d), per context (%d), rounds (%d) and message sizes (%v) must be given and positive",
			cfg.Conns, cfg.PerContext, cfg.Rounds, cfg.Sizes)
	}
	for _, size := range cfg.Sizes {
		if size <= 0 || size > server.MaxMessageSize {
			return fmt.Errorf("idle-browser: message size %d is not within 1 to %d", size, server.MaxMessageSize)
		}
	}
	if limit, err := raiseFileLimit(cfg.Conns + fileMargin); err != nil {
		return fmt.Errorf("raising the open-file limit: %w", err)
	} else if limit < cfg.Conns+fileMargin {
		return fmt.Errorf("%d sockets need an open-file limit of %d; the limit is %d", cfg.Conns, cfg.Conns+fileMargin, limit)
	}
	if cfg.HeapDir != "" {
		if err := os.MkdirAll(cfg.HeapDir, 0o755); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "wsbench-chromium-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	chromeLog := new(tail)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(cfg.Chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.UserDataDir(dir),
		chromedp.CombinedOutput(chromeLog),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil { // starts the browser, for as long as bctx lives
		return fmt.Errorf("starting %s: %w%s", cfg.Chromium, err, chromeLog.String())
	}

	page, err := servePage()
	if err != nil {
		return err
	}
	defer page.Close()

	labels := make([]string, len(browserSettings))
	for i, s := range browserSettings {
		labels[i] = s.label
	}
	exts := map[string]map[string]int{} // label → offered and answered extensions → sockets
	m := describeMachine()
	start := time.Now()
	var tables []*table
	for _, size := range cfg.Sizes {
		t := newTable(fmt.Sprintf("Idle WebSockets from headless Chromium: %d sockets, each after one %s message and its echo", cfg.Conns, sizeName(size)),
			labels, cfg.Rounds, idleBrowserMetrics...)
		tables = append(tables, t)
		for r := range cfg.Rounds {
			for _, label := range order(labels, r) {
				s := browserSettings[slices.Index(labels, label)]
				if ctx.Err() != nil {
					break
				}
				waitQuiet(ctx, cfg.QuietWait)
				seen, err := idleBrowserOnce(ctx, bctx, "http://"+page.Addr().String()+"/", cfg, size, t, s, r)
				if err != nil {
					t.fail(s.label, r, err)
					log.Printf("idle-browser, %s, round %d: %v", s.label, r+1, err)
				}
				if exts[s.label] == nil {
					exts[s.label] = map[string]int{}
				}
				for e, n := range seen {
					exts[s.label][e] += n
				}
			}
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("the run hit its %v time limit", cfg.Timeout)
	}

	var b bytes.Buffer
	writeIdleBrowser(&b, cfg, tables, exts, m, chromiumVersion(cfg.Chromium), start, time.Now())
	if cfg.Out != "" {
		if err := os.WriteFile(cfg.Out, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	_, err = w.Write(b.Bytes())
	return err
}

// idleBrowserOnce measures one setting once, in a fresh server process,
// and returns the extensions the sockets were answered with.
func idleBrowserOnce(ctx, bctx context.Context, pageURL string, cfg IdleBrowserConfig, size int, t *table, s browserSetting, r int) (map[string]int, error) {
	p, err := startServer(s.server, server.Options{Mode: server.Echo, Compress: s.compress})
	if err != nil {
		return nil, err
	}
	defer p.stop()
	s0, err := p.stats()
	if err != nil {
		return nil, err
	}
	rss0, err := p.rss()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var seen map[string]int
	var tabs []context.Context
	if s.goClient {
		conns, err := load.Idle(ctx, p.addr, cfg.Conns)
		if err != nil {
			return nil, fmt.Errorf("%w%s", err, p.stderr.String())
		}
		defer load.CloseAll(conns)
		seen = map[string]int{"offered (none)": len(conns)}
	} else {
		var closeTabs func()
		tabs, seen, closeTabs, err = openBrowserSockets(ctx, bctx, pageURL, "ws://"+p.addr+"/", cfg.Conns, cfg.PerContext, size)
		defer closeTabs()
		if err != nil {
			return seen, fmt.Errorf("%w%s", err, p.stderr.String())
		}
	}
	time.Sleep(idleSettle)
	s1, err := p.stats()
	if err != nil {
		return seen, err
	}
	rss1, err := p.rss()
	if err != nil {
		return seen, err
	}
	// Every socket must still be open when the server was measured.
	open := 0
	for _, tab := range tabs {
		n, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.__ws.filter(ws => ws.readyState === WebSocket.OPEN).length`))
		if err != nil {
			return seen, fmt.Errorf("counting the open sockets: %w", err)
		}
		open += n
	}
	if !s.goClient && open != cfg.Conns {
		return seen, fmt.Errorf("%d of %d sockets were open after the measurement", open, cfg.Conns)
	}
	if cfg.HeapDir != "" {
		path := filepath.Join(cfg.HeapDir, fmt.Sprintf("idle-browser-%s-compress=%v-%s-%dB-r%d.heap.pprof",
			s.server, s.compress, map[bool]string{true: "goclient", false: "chromium"}[s.goClient], size, r+1))
		if _, err := p.command("heap " + path); err != nil {
			log.Printf("heap profile of %s: %v", s.label, err)
		}
	}
	n := cfg.Conns
	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
	t.set(s.label, r, "RSS/conn", per(rss0, rss1))
	t.set(s.label, r, "Go heap/conn", per(s0.HeapInuse, s1.HeapInuse))
	t.set(s.label, r, "stacks/conn", per(s0.StackInuse, s1.StackInuse))
	t.set(s.label, r, "goroutines/conn", float64(s1.Goroutines-s0.Goroutines)/float64(n))
	t.set(s.label, r, "RSS total", float64(rss1))
	log.Printf("idle-browser, %s, round %d: RSS %s/conn, heap %s/conn, stacks %s/conn, extensions %v", s.label, r+1,
		fmtBytes(per(rss0, rss1)), fmtBytes(per(s0.HeapInuse, s1.HeapInuse)), fmtBytes(per(s0.StackInuse, s1.StackInuse)), seen)
	return seen, nil
}

// openSocketsJS opens n sockets to url from the page, each sending one
// text message of size bytes (English-like text, which compresses) and
// waiting for its echo, and resolves to how many did and the
// extensions each was answered with. The sockets stay open, in
// window.__ws.
const openSocketsJS = `(async (url, n, size) => {
	window.__ws = [];
	const text = "hello from chromium, a socket soon idle; ".repeat(Math.ceil(size / 41)).slice(0, size);
	const one = () => new Promise((resolve, reject) => {
		const ws = new WebSocket(url);
		window.__ws.push(ws);
		ws.onopen = () => ws.send(text);
		ws.onmessage = () => resolve(ws.extensions);
		ws.onerror = () => reject(new Error("error event"));
		ws.onclose = e => reject(new Error("closed, code " + e.code));
	});
	const res = await Promise.allSettled(Array.from({length: n}, one));
	const out = {ok: 0, extensions: {}, errors: {}};
	for (const r of res) {
		if (r.status === "fulfilled") {
			out.ok++;
			out.extensions[r.value] = (out.extensions[r.value] || 0) + 1;
		} else {
			out.errors[r.reason.message] = (out.errors[r.reason.message] || 0) + 1;
		}
	}
	return out;
})`

type openResult struct {
	OK         int            `json:"ok"`
	Extensions map[string]int `json:"extensions"`
	Errors     map[string]int `json:"errors"`
}

// openBrowserSockets opens n sockets to url from tabs (at pageURL) of
// bctx's browser,
// at most per in each browser context of its own (Chromium's socket pool
// limits are per network context). closeTabs closes the tabs and their
// sockets; it is never nil.
func openBrowserSockets(ctx, bctx context.Context, pageURL, url string, n, per, size int) (tabs []context.Context, exts map[string]int, closeTabs func(), err error) {
	var cancels []context.CancelFunc
	closeTabs = func() {
		for _, c := range cancels {
			c()
		}
	}
	exts = map[string]int{}
	for opened := 0; opened < n; opened += per {
		k := min(per, n-opened)
		var mu sync.Mutex
		offers := map[string]int{} // Sec-WebSocket-Extensions of each handshake request
		tab, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(func(ev any) {
			if e, ok := ev.(*network.EventWebSocketWillSendHandshakeRequest); ok && e.Request != nil {
				offer := "(none)"
				for k, v := range e.Request.Headers {
					if strings.EqualFold(k, "Sec-WebSocket-Extensions") {
						offer = fmt.Sprint(v)
					}
				}
				mu.Lock()
				offers[offer]++
				mu.Unlock()
			}
		}))
		cancels = append(cancels, cancel)
		tabs = append(tabs, tab)
		if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
			return tabs, exts, closeTabs, fmt.Errorf("browser context %d: enabling the network domain: %w", len(tabs), err)
		}
		var res openResult
		call := fmt.Sprintf("%s(%q, %d, %d)", openSocketsJS, url, k, size)
		err := runWithin(ctx, func() error {
			if err := chromedp.Do(tab, chromedp.Navigate(pageURL)); err != nil {
				return err
			}
			var err error
			res, err = chromedp.Run(tab, chromedp.Evaluate[openResult](call, chromedp.EvalAwaitPromise))
			return err
		})
		if err != nil {
			return tabs, exts, closeTabs, fmt.Errorf("opening sockets in browser context %d: %w", len(tabs), err)
		}
		for e, c := range res.Extensions {
			if e == "" {
				e = "(none)"
			}
			exts["answered "+e] += c
		}
		mu.Lock()
		for o, c := range offers {
			exts["offered "+o] += c
		}
		mu.Unlock()
		if res.OK != k {
			return tabs, exts, closeTabs, fmt.Errorf("browser context %d: %d of %d sockets echoed; failures: %v", len(tabs), res.OK, k, res.Errors)
		}
	}
	return tabs, exts, closeTabs, nil
}

// servePage serves the empty page the sockets are opened from, on
// loopback: a page of its own rather than about:blank, whose opaque origin
// Chromium does not let reach a loopback address (Local Network Access).
func servePage() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the page: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><title>idle sockets</title>")
	})}
	go srv.Serve(ln)
	return ln, nil
}

// runWithin runs f, giving up waiting for it when ctx is done.
func runWithin(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// chromiumVersion returns what the browser says of itself.
func chromiumVersion(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "unknown version"
	}
	return strings.TrimSpace(string(out))
}

func writeIdleBrowser(w io.Writer, cfg IdleBrowserConfig, tables []*table, exts map[string]map[string]int, m machine, version string, start, end time.Time) {
	fmt.Fprintf(w, "## Memory per idle connection when the client is Chromium\n\n")
	fmt.Fprintf(w, "Generated by `cd bench && go run ./cmd/wsbench %s`.\n\n", strings.Join(cfg.Args, " "))
	fmt.Fprintf(w, "- Date: %s, %s in all\n", start.UTC().Format("2006-01-02 15:04 MST"), end.Sub(start).Round(time.Second))
	fmt.Fprintf(w, "- Machine: %d cores (%s), Linux %s, %s; the server, Chromium and the harness share the cores\n", m.cores, m.cpu, m.kernel, m.goVer)
	fmt.Fprintf(w, "- Load average at the start: %s\n", m.loadAvg)
	fmt.Fprintf(w, "- Client: %s, headless, its default offer; %d sockets per browser context (%d contexts), all to 127.0.0.1\n",
		version, cfg.PerContext, (cfg.Conns+cfg.PerContext-1)/cfg.PerContext)
	fmt.Fprintf(w, "- Rounds: %d (settings alternate within each, order reversed every other round, each in a fresh server process); medians over rounds\n\n", cfg.Rounds)
	fmt.Fprintf(w, "Each socket sends one text message (English-like, compressible), reads its echo, and is left idle; "+
		"the server (wsdeck's echo server of `-measure idle`, a goroutine per connection) is measured %v later: RSS from /proc/PID/status, "+
		"Go heap and stacks in use after a GC, each minus its value before the sockets were opened, divided by the sockets. "+
		"The Go client row is the bench's own client of `-measure idle`: no offer, no message.\n\n", idleSettle)
	for _, t := range tables {
		t.markdown(w)
	}
	fmt.Fprintf(w, "What Chromium offered (Sec-WebSocket-Extensions of its handshake requests, from the DevTools protocol's "+
		"Network.webSocketWillSendHandshakeRequest) and what the server answered (`ws.extensions` on the page), sockets over all rounds:\n\n")
	for _, s := range browserSettings {
		e := exts[s.label]
		keys := slices.Sorted(maps.Keys(e))
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("`%s` (%d)", k, e[k]))
		}
		fmt.Fprintf(w, "- %s: %s\n", s.label, strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
}
