package batch

import (
	"bytes"
	"crypto/sha256"
)

// Gather groups hosts whose output (stdout and stderr as they arrived)
// and outcome are identical, as dshbak -c does: feed it every event, then
// read Groups. Each distinct output is stored once; hosts still running
// hold their own buffer. Not safe for concurrent use.
type Gather struct {
	running map[int]*bytes.Buffer
	byKey   map[[sha256.Size]byte]*GatherGroup
	groups  []*GatherGroup
}

// GatherGroup is a set of hosts with the same output and outcome.
type GatherGroup struct {
	Indexes []int  // the hosts' Event.Index, in order of finishing
	Output  []byte // their output
	Message string // Result.Message(): "" for hosts that exited 0
	Capped  bool   // the output was cut at the cap
}

// Add takes one event of the job.
func (g *Gather) Add(ev Event) {
	if g.running == nil {
		g.running = map[int]*bytes.Buffer{}
		g.byKey = map[[sha256.Size]byte]*GatherGroup{}
	}
	switch ev.Type {
	case EventOutput:
		b := g.running[ev.Index]
		if b == nil {
			b = &bytes.Buffer{}
			g.running[ev.Index] = b
		}
		b.Write(ev.Data)
	case EventFinished:
		var out []byte
		if b := g.running[ev.Index]; b != nil {
			out = b.Bytes()
			delete(g.running, ev.Index)
		}
		msg := ev.Result.Message()
		capped := ev.Result.Dropped > 0
		h := sha256.New()
		h.Write(out)
		h.Write([]byte{0})
		h.Write([]byte(msg))
		if capped {
			h.Write([]byte{1})
		}
		var key [sha256.Size]byte
		h.Sum(key[:0])
		grp := g.byKey[key]
		if grp == nil {
			grp = &GatherGroup{Output: out, Message: msg, Capped: capped}
			g.byKey[key] = grp
			g.groups = append(g.groups, grp)
		}
		grp.Indexes = append(grp.Indexes, ev.Index)
	}
}

// Groups returns the groups in order of their first host to finish.
func (g *Gather) Groups() []*GatherGroup { return g.groups }
