package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// finalBlock ends a stream that Flush left byte-aligned: an empty stored
// block with BFINAL set, what permessage-deflate readers append.
const finalBlock = "\x01\x00\x00\xff\xff"

// stdInflate decodes a flushed stream with compress/flate.
func stdInflate(compressed []byte) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(compressed), strings.NewReader(finalBlock)))
	defer r.Close()
	return io.ReadAll(r)
}

// checkStream decodes compressed with compress/flate and with the test
// inflater, and fails t unless both give want with no match distance above
// the window.
func checkStream(t testing.TB, compressed, want []byte, windowBits int) *inflated {
	t.Helper()
	got, err := stdInflate(compressed)
	if err != nil {
		t.Fatalf("compress/flate: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("compress/flate decoded %d bytes, want %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
	res, err := inflate(compressed)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	if !bytes.Equal(res.out, want) {
		t.Fatalf("inflate decoded %d bytes, want %d", len(res.out), len(want))
	}
	if res.maxDist > 1<<windowBits {
		t.Fatalf("match distance %d, window is %d", res.maxDist, 1<<windowBits)
	}
	if !bytes.HasSuffix(compressed, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("stream does not end in a sync marker: % x", compressed[max(0, len(compressed)-8):])
	}
	return res
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// compressAll writes p in one Write and flushes.
func compressAll(t testing.TB, level, windowBits int, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, level, windowBits)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var allLevels = []int{HuffmanOnly, NoCompression, 1, 2, 3, 4, 5, 6, 7, 8, 9}

func randBytes(r *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

var words = strings.Fields(`the of and to a in is it you that he was for on are with as I his they
be at one have this from or had by word but what some we can out other were all there when up use
your how said an each she which do their time if will way about many then them write would like so
these her long make thing see him two has look more day could go come did number sound no most people
my over know water than call first who may down side been now find any new work part take get place
made live where after back little only round man year came show every good me give our under name
very through just form sentence great think say help low line differ turn cause much mean before move
right boy old too same tell does set three want air well also play small end put home read hand port
large spell add even land here must big high such follow act why ask men change went light kind off
need house picture try us again animal point mother world near build self earth father`)

// englishText returns n bytes of sentences drawn from a word list with a
// skewed (roughly Zipfian) choice of words.
func englishText(r *rand.Rand, n int) []byte {
	var b strings.Builder
	for b.Len() < n {
		words := 4 + r.IntN(14)
		for i := range words {
			w := words2(r)
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
			if i < words-1 {
				if r.IntN(12) == 0 {
					b.WriteString(",")
				}
				b.WriteString(" ")
			}
		}
		b.WriteString(". ")
		if r.IntN(8) == 0 {
			b.WriteString("\n\n")
		}
	}
	return []byte(b.String()[:n])
}

func words2(r *rand.Rand) string {
	// Squaring a uniform index favours the first words, as real text does.
	f := r.Float64()
	return words[int(f*f*float64(len(words)))]
}

var (
	users    = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter"}
	rooms    = []string{"general", "random", "dev", "ops", "support", "release-2024", "design"}
	metrics  = []string{"cpu.user", "cpu.system", "mem.rss", "mem.heap", "net.rx_bytes", "net.tx_bytes", "disk.read_ops", "http.requests", "http.latency_p99", "ws.connections"}
	hosts    = []string{"web-01", "web-02", "web-03", "api-01", "api-02", "db-primary", "db-replica-1", "cache-01"}
	statuses = []string{"ok", "ok", "ok", "ok", "degraded", "ok", "ok", "error"}
)

// jsonMessages returns n bytes of newline-separated JSON messages like a
// chat and monitoring WebSocket carries: chat messages, presence and
// metric samples, with timestamps and ids that change from message to
// message.
func jsonMessages(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	ts := int64(1718000000000)
	id := 100000
	for b.Len() < n {
		ts += int64(r.IntN(2000))
		id++
		switch k := r.IntN(10); {
		case k < 5:
			fmt.Fprintf(&b, `{"type":"message","id":%d,"room":%q,"user":{"id":%d,"name":%q},"ts":%d,"text":%q,"reactions":[`,
				id, rooms[r.IntN(len(rooms))], 1000+r.IntN(50), users[r.IntN(len(users))], ts, englishText(r, 20+r.IntN(120)))
			for i := range r.IntN(3) {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"emoji":%q,"count":%d}`, []string{"+1", "heart", "tada", "eyes"}[r.IntN(4)], 1+r.IntN(9))
			}
			b.WriteString("]}\n")
		case k < 7:
			fmt.Fprintf(&b, `{"type":"presence","user":%q,"status":%q,"ts":%d}`+"\n",
				users[r.IntN(len(users))], []string{"online", "away", "offline"}[r.IntN(3)], ts)
		default:
			fmt.Fprintf(&b, `{"type":"metrics","host":%q,"ts":%d,"status":%q,"samples":[`, hosts[r.IntN(len(hosts))], ts, statuses[r.IntN(len(statuses))])
			for i := range 2 + r.IntN(4) {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"name":%q,"value":%.3f,"unit":%q}`, metrics[r.IntN(len(metrics))], r.Float64()*1000, []string{"ms", "bytes", "ops", "%"}[r.IntN(4)])
			}
			b.WriteString("]}\n")
		}
	}
	return b.Bytes()[:n]
}
