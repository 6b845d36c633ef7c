package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// What a failed test leaves behind, to find out why: the nodes' goroutines
// and the NATS servers' view of their streams.

// DumpStacks has the node's Go runtime write every goroutine's stack to
// the node's log (SIGQUIT), which ends the node: for a test that failed
// waiting on it. It returns once the node is gone.
func (n *Node) DumpStacks() {
	if n.proc == nil || !n.proc.running() {
		return
	}
	n.proc.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-n.proc.exited:
	case <-time.After(10 * time.Second):
		n.proc.kill()
	}
}

// SaveJSZ writes each running server's /jsz, with its streams and their
// replicas, to jsz-<server>.json in dir.
func (c *NATS) SaveJSZ(dir string) error {
	var errs []string
	for _, s := range c.Servers {
		if !s.proc.running() {
			continue
		}
		resp, err := s.monitor("/jsz?accounts=true&streams=true&config=true&raft=true")
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "jsz-"+s.Name+".json"), b, 0o644)
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cluster: saving /jsz: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Entry is a stream entry as the stream's leader has it.
type Entry struct {
	Seq     uint64
	Subject string
	Time    time.Time
	MsgID   string // its Nats-Msg-Id header
	Data    string
}

func (e Entry) String() string {
	return fmt.Sprintf("seq %d at %s, subject %s, msg id %q: %s", e.Seq, e.Time.Format("15:04:05.000000"), e.Subject, e.MsgID, e.Data)
}

// Entries returns the entries of stream numbered seqs, read through a
// connection of its own to the cluster (any running server).
func (c *NATS) Entries(ctx context.Context, stream string, seqs []uint64) ([]Entry, error) {
	nc, err := nats.Connect(c.URLs(), nats.Name("test diagnostics"))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	var out []Entry
	for _, seq := range seqs {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			return out, fmt.Errorf("stream %s seq %d: %w", stream, seq, err)
		}
		out = append(out, Entry{Seq: m.Sequence, Subject: m.Subject, Time: m.Time, MsgID: m.Header.Get(jetstream.MsgIDHeader), Data: string(m.Data)})
	}
	return out, nil
}
