package execcli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// palette colors the host prefixes: ANSI red, green, yellow, blue,
// magenta, cyan, bright variants after.
var palette = []string{"31", "32", "33", "34", "35", "36", "91", "92", "93", "94", "95", "96"}

// printer turns the job's events into output. The batch package calls
// handle from one goroutine at a time.
type printer struct {
	cfg    *Config
	hosts  []hostexpr.Host
	color  bool
	out    *bufio.Writer // stdout
	errw   *bufio.Writer // stderr
	lines  batch.LineSplitter
	gather batch.Gather
	// JSON: the output of the hosts still running, up to the cap.
	captured map[int]*[2]bytes.Buffer
	results  []*batch.Result // by target, as they finish
	werr     error           // the first write error
}

func newPrinter(cfg *Config, hosts []hostexpr.Host) *printer {
	return &printer{
		cfg: cfg, hosts: hosts, color: useColor(cfg.Color, cfg.Stdout),
		out: bufio.NewWriter(cfg.Stdout), errw: bufio.NewWriter(cfg.Stderr),
		captured: map[int]*[2]bytes.Buffer{}, results: make([]*batch.Result, len(hosts)),
	}
}

func (p *printer) err() error { return p.werr }

func (p *printer) handle(ev batch.Event) {
	if ev.Type == batch.EventFinished {
		p.results[ev.Index] = ev.Result
	}
	switch {
	case ev.Type == batch.EventWarning:
		fmt.Fprintf(p.errw, "wsdeck: warning: %s\n", ev.Message)
	case ev.Type == batch.EventSummary:
		p.summary(ev.Summary)
	case p.cfg.JSON:
		p.json(ev)
	case p.cfg.Gather:
		p.gather.Add(ev)
	default:
		p.live(ev)
	}
	// Flush as we go: this is a live display. Lines are whole, so the
	// writes of different hosts never mix within a line.
	p.flush()
}

func (p *printer) flush() {
	for _, w := range []*bufio.Writer{p.out, p.errw} {
		if err := w.Flush(); err != nil && p.werr == nil {
			p.werr = err
		}
	}
}

// prefix returns "host: ", colored if the output is a terminal.
func (p *printer) prefix(i int, host string) string {
	if !p.color {
		return host + ": "
	}
	return "\x1b[" + palette[i%len(palette)] + "m" + host + ":\x1b[0m "
}

// notice writes a line of ours about a host to stderr: "host: [wsdeck: ...]".
func (p *printer) notice(i int, host, msg string) {
	p.noticeTo(p.errw, i, host, msg)
}

// noticeTo writes a line of ours about a host to w. The brackets and the
// "wsdeck:" set it apart from the host's own lines.
func (p *printer) noticeTo(w io.Writer, i int, host, msg string) {
	fmt.Fprintf(w, "%s[wsdeck: %s]\n", p.prefix(i, host), msg)
}

// cutMarker is the line that marks where a host's output was cut, in the
// stream where the cut fell.
func (p *printer) cutMarker() string {
	return fmt.Sprintf("output cut at %s (--max-output); the rest is counted, not shown", size(p.maxOutput()))
}

func (p *printer) writer(s batch.Stream) io.Writer {
	if s == batch.Stderr {
		return p.errw
	}
	return p.out
}

func (p *printer) live(ev batch.Event) {
	switch ev.Type {
	case batch.EventOutput:
		w, prefix := p.writer(ev.Stream), p.prefix(ev.Index, ev.Host)
		p.lines.Write(ev.Index, ev.Stream, ev.Data, func(line []byte) {
			fmt.Fprintf(w, "%s%s\n", prefix, line)
		})
	case batch.EventCapped:
		// batch cuts between lines, so the marker follows a whole line.
		p.noticeTo(p.writer(ev.Stream), ev.Index, ev.Host, p.cutMarker())
	case batch.EventFinished:
		prefix := p.prefix(ev.Index, ev.Host)
		p.lines.Flush(ev.Index, func(s batch.Stream, line []byte) {
			fmt.Fprintf(p.writer(s), "%s%s\n", prefix, line)
		})
		r := ev.Result
		if r.Dropped > 0 {
			p.notice(ev.Index, ev.Host, fmt.Sprintf("%s more not shown (over --max-output)", size(r.Dropped)))
		}
		if !r.OK() {
			p.notice(ev.Index, ev.Host, r.Message())
		}
	}
}

func (p *printer) maxOutput() int64 {
	if p.cfg.Job.MaxOutput > 0 {
		return p.cfg.Job.MaxOutput
	}
	return batch.DefaultMaxOutput
}

// jsonResult is a host's line in --json mode: the Result's fields, its
// output, and whether that output was cut at the cap (truncated: true;
// dropped_bytes says how much more there was).
type jsonResult struct {
	r              *batch.Result
	stdout, stderr string
}

func (j jsonResult) MarshalJSON() ([]byte, error) {
	base, err := j.r.MarshalJSON()
	if err != nil {
		return nil, err
	}
	extra, err := json.Marshal(struct {
		Stdout    string `json:"stdout"`
		Stderr    string `json:"stderr"`
		Truncated bool   `json:"truncated"`
	}{j.stdout, j.stderr, j.r.Dropped > 0})
	if err != nil {
		return nil, err
	}
	return append(append(base[:len(base)-1], ','), extra[1:]...), nil
}

func (p *printer) json(ev batch.Event) {
	switch ev.Type {
	case batch.EventOutput:
		b := p.captured[ev.Index]
		if b == nil {
			b = &[2]bytes.Buffer{}
			p.captured[ev.Index] = b
		}
		b[ev.Stream-1].Write(ev.Data)
	case batch.EventFinished:
		var stdout, stderr string
		if b := p.captured[ev.Index]; b != nil {
			stdout, stderr = b[0].String(), b[1].String()
			delete(p.captured, ev.Index)
		}
		line, err := json.Marshal(jsonResult{ev.Result, stdout, stderr})
		if err != nil {
			p.werr = err
			return
		}
		p.out.Write(line)
		p.out.WriteByte('\n')
	}
}

// gathered prints the dshbak -c style blocks.
func (p *printer) gathered() {
	for _, g := range p.gather.Groups() {
		hosts := make([]hostexpr.Host, len(g.Indexes))
		for i, idx := range g.Indexes {
			hosts[i] = p.hosts[idx]
		}
		names := hostexpr.Fold(hosts)
		rule := strings.Repeat("-", 16)
		head := names
		if p.color {
			head = "\x1b[1m" + names + "\x1b[0m"
		}
		fmt.Fprintf(p.out, "%s\n%s (%d)\n%s\n", rule, head, len(hosts), rule)
		p.out.Write(g.Output)
		if len(g.Output) > 0 && g.Output[len(g.Output)-1] != '\n' {
			p.out.WriteByte('\n')
		}
		if g.Capped {
			fmt.Fprintf(p.out, "[wsdeck: output cut at %s]\n", size(p.maxOutput()))
		}
		if g.Message != "" {
			fmt.Fprintf(p.out, "[wsdeck: %s]\n", g.Message)
		}
	}
}

func (p *printer) summary(s *batch.Summary) {
	if p.cfg.Gather && !p.cfg.JSON {
		p.gathered()
		p.flush()
	}
	fmt.Fprintln(p.errw, s)
	if s.Failed == 0 {
		return
	}
	// One line per kind of failure: "  refused: 2 (127.0.0.[4,9])",
	// "  exit status 3: 1 (web01)".
	type kind struct {
		status batch.Status
		code   int
	}
	byKind := map[kind][]hostexpr.Host{}
	var order []kind
	for i, r := range p.results {
		if r == nil || r.OK() {
			continue
		}
		k := kind{r.Status, r.ExitCode}
		if _, seen := byKind[k]; !seen {
			order = append(order, k)
		}
		byKind[k] = append(byKind[k], p.hosts[i])
	}
	for _, k := range order {
		label := k.status.String()
		if k.status == batch.StatusExit {
			label = fmt.Sprintf("exit status %d", k.code)
		}
		fmt.Fprintf(p.errw, "  %s: %d (%s)\n", label, len(byKind[k]), hostexpr.Fold(byKind[k]))
	}
}
