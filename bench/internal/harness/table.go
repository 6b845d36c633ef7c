package harness

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// baseline is the server every other is compared with.
const baseline = "wsdeck"

// metric is one column of a table.
type metric struct {
	name   string
	format func(float64) string
	// ratio adds a column with each server's ratio to wsdeck in the same
	// round (the median over rounds), and puts the metric in the summary.
	ratio bool
	// higherBetter tells which way the ratio favours wsdeck.
	higherBetter bool
}

// table holds one measurement: a value per server, metric and round.
type table struct {
	title   string
	note    string
	metrics []metric
	servers []string
	rounds  int
	vals    map[string]map[string][]float64 // server → metric → round; NaN when missing
	errs    map[string][]string             // server → errors
}

func newTable(title string, servers []string, rounds int, metrics ...metric) *table {
	return &table{title: title, servers: servers, rounds: rounds, metrics: metrics,
		vals: map[string]map[string][]float64{}, errs: map[string][]string{}}
}

func (t *table) set(server string, round int, name string, v float64) {
	m := t.vals[server]
	if m == nil {
		m = map[string][]float64{}
		t.vals[server] = m
	}
	s := m[name]
	if s == nil {
		s = make([]float64, t.rounds)
		for i := range s {
			s[i] = math.NaN()
		}
		m[name] = s
	}
	s[round] = v
}

func (t *table) fail(server string, round int, err error) {
	t.errs[server] = append(t.errs[server], fmt.Sprintf("round %d: %v", round+1, err))
}

// median returns the median of the server's rounds, NaN if it has none.
func (t *table) median(server, name string) float64 {
	return median(t.vals[server][name])
}

// ratio returns the median over rounds of server's value divided by
// wsdeck's in the same round.
func (t *table) ratio(server, name string) float64 { return t.ratioOf(server, baseline, name) }

// ratioOf returns the median over rounds of server a's value divided by
// b's in the same round.
func (t *table) ratioOf(a, b, name string) float64 {
	return roundRatio(t.vals[a][name], t.vals[b][name])
}

func roundRatio(a, b []float64) float64 {
	var rs []float64
	for i := range a {
		if i < len(b) && !math.IsNaN(a[i]) && !math.IsNaN(b[i]) && b[i] != 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	return median(rs)
}

// others is the median over servers and rounds of the "other cores"
// metric, NaN if the table has none.
func (t *table) others() float64 {
	var all []float64
	for _, s := range t.servers {
		all = append(all, t.vals[s]["other cores"]...)
	}
	return median(all)
}

func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (t *table) markdown(w io.Writer) {
	fmt.Fprintf(w, "### %s\n\n", t.title)
	if t.note != "" {
		fmt.Fprintf(w, "%s\n\n", t.note)
	}
	head := []string{"server"}
	for _, m := range t.metrics {
		head = append(head, m.name)
	}
	for _, m := range t.metrics {
		if m.ratio {
			head = append(head, m.name+" ×wsdeck")
		}
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat(" --- |", len(head)))
	for _, s := range t.servers {
		row := []string{s}
		for _, m := range t.metrics {
			row = append(row, fmtOr(t.median(s, m.name), m.format))
		}
		for _, m := range t.metrics {
			if m.ratio {
				if s == baseline {
					row = append(row, "1")
				} else {
					row = append(row, fmtOr(t.ratio(s, m.name), fmtRatio))
				}
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintln(w)
	for _, s := range t.servers {
		for _, e := range t.errs[s] {
			fmt.Fprintf(w, "- %s failed, %s\n", s, e)
		}
	}
	if len(t.errs) > 0 {
		fmt.Fprintln(w)
	}
}

func fmtOr(v float64, f func(float64) string) string {
	if math.IsNaN(v) {
		return "–"
	}
	return f(v)
}

func fmtRatio(v float64) string { return fmt.Sprintf("%.2f", v) }

func fmtCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtFloat(v float64) string { return fmt.Sprintf("%.2f", v) }

func fmtBytes(v float64) string {
	switch {
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 10<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

// fmtDur formats seconds.
func fmtDur(v float64) string {
	d := time.Duration(v * float64(time.Second))
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
