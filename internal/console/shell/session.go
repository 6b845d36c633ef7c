package shell

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/shell/record"
)

// Share says who besides the owner (and admins, who may always watch) may
// attach to a session, and whether they may type.
type Share string

const (
	ShareNone  Share = "none"  // the owner, and admins read-only
	ShareWatch Share = "watch" // any logged-in user, read-only
	ShareType  Share = "type"  // any logged-in user, and they may type
)

// Session is one terminal: a shell on a PTY, here or over SSH, with the
// pages attached to it. It outlives its pages: with none attached it runs
// on for the registry's grace time, and a page that attaches is sent its
// scrollback first. Its methods may be called from any goroutine.
type Session struct {
	Meta  record.SessionMeta
	Owner Owner

	reg   *Registry
	term  terminal
	rec   record.Recorder // nil: not recorded; calls under recMu
	recMu sync.Mutex

	mu      sync.Mutex
	cond    *sync.Cond           // signalled when the reader may go on; uses mu
	ring    *ring                // guarded by mu
	atts    map[*attachment]bool // guarded by mu
	cols    int                  // guarded by mu
	rows    int                  // guarded by mu
	share   Share                // guarded by mu
	paused  bool                 // guarded by mu: the reader waits
	grace   *time.Timer          // guarded by mu: runs while no page is attached
	ended   bool                 // guarded by mu
	closing bool                 // guarded by mu: Close was called
	reason  string               // guarded by mu: why it ended
	pauses  int64                // guarded by mu: how often output was paused, for tests
	inMu    sync.Mutex           // serialises writes to the terminal
	done    chan struct{}        // closed once it has ended
	endOnce sync.Once
}

// Owner is who opened a session: they may type, resize, share and close.
type Owner struct {
	User   string
	Method string
}

// attachment is one page's view of a session, on one socket.
type attachment struct {
	s     *Session
	v     viewer
	ch    byte // its channel on the socket
	write bool // may type and resize
	// pacing attachments hold the output back when they fall behind (the
	// owner's pages); the others are detached when they pass the
	// watcher's limit, and may attach again (the scrollback brings them
	// back).
	pacing   bool
	inflight int64 // guarded by s.mu: bytes sent and not acked yet
}

// viewer is a socket, as a session sees it. Its methods never block.
type viewer interface {
	output(ch byte, p []byte)         // a binary frame: p is shared, not to be changed
	ended(ch byte, id, reason string) // the session ended
	resized(ch byte, cols, rows int)  // someone resized it
	detached(ch byte, id, why string) // the session let go of this page
}

// ID returns the session's id.
func (s *Session) ID() string { return s.Meta.ID }

// Done is closed once the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// read copies the terminal's output to the ring, the recorder and the
// attached pages until the terminal ends, waiting while output is paused.
func (s *Session) read() {
	buf := make([]byte, s.reg.opts.ReadSize)
	for {
		s.mu.Lock()
		for s.paused && !s.closing {
			s.cond.Wait()
		}
		s.mu.Unlock()
		n, err := s.term.Read(buf)
		if n > 0 {
			s.output(buf[:n])
		}
		if err != nil {
			break
		}
	}
	werr := s.term.Wait()
	reason := "exit"
	if werr != nil && !errors.Is(werr, io.EOF) {
		reason = "exit: " + werr.Error()
	}
	s.end(reason)
}

// output delivers p: the recorder, the ring, every attached page.
func (s *Session) output(p []byte) {
	now := time.Now()
	if s.rec != nil {
		s.recMu.Lock()
		s.rec.Output(now, p)
		s.recMu.Unlock()
	}
	frame := append([]byte(nil), p...) // shared by every page's queue
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring.write(p)
	for a := range s.atts {
		a.inflight += int64(len(p))
		if !a.pacing && a.inflight > s.reg.opts.WatcherLimit {
			delete(s.atts, a)
			a.v.detached(a.ch, s.Meta.ID, "too slow: attach again to catch up")
			continue
		}
		a.v.output(a.ch, frame)
		if a.pacing && a.inflight >= s.reg.opts.HighWater && !s.paused {
			s.paused = true
			s.pauses++
		}
	}
	s.armGraceLocked()
}

// ack records that a page has drawn n bytes, and resumes output once every
// pacing page is below the low watermark.
func (a *attachment) ack(n int64) {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	a.inflight = max(0, a.inflight-n)
	s.resumeLocked()
}

// resumeLocked lets the reader go on when no pacing page is above the low
// watermark.
func (s *Session) resumeLocked() {
	if !s.paused {
		return
	}
	for a := range s.atts {
		if a.pacing && a.inflight > s.reg.opts.LowWater {
			return
		}
	}
	s.paused = false
	s.cond.Broadcast()
}

// attach adds a page: hello is called first (with s.mu held: it may
// queue to v, and must not call s's methods) with the length of the
// scrollback, which is queued next, then the live output. The grace timer stops.
func (s *Session) attach(v viewer, ch byte, write, pacing bool, hello func(a *attachment, replay int)) (*attachment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, errEnded
	}
	a := &attachment{s: s, v: v, ch: ch, write: write, pacing: pacing}
	back := s.ring.bytes()
	if hello != nil {
		hello(a, len(back))
	}
	if len(back) > 0 {
		a.inflight = int64(len(back))
		v.output(ch, back)
	}
	s.atts[a] = true
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
	return a, nil
}

var errEnded = errors.New("the session has ended")

// detach removes a page; with none left the grace time starts.
func (a *attachment) detach() {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.atts[a] {
		return
	}
	delete(s.atts, a)
	s.resumeLocked()
	s.armGraceLocked()
}

// armGraceLocked starts the grace timer if no page is attached.
func (s *Session) armGraceLocked() {
	if len(s.atts) > 0 || s.ended || s.grace != nil {
		return
	}
	s.resumeLocked()
	s.grace = time.AfterFunc(s.reg.opts.Grace, func() { s.Close("no page attached for " + s.reg.opts.Grace.String()) })
}

// input types p into the terminal, for a page that may.
func (a *attachment) input(p []byte) error {
	if !a.mayType() {
		return errReadOnly
	}
	s := a.s
	if s.rec != nil {
		s.recMu.Lock()
		s.rec.Input(time.Now(), p)
		s.recMu.Unlock()
	}
	s.inMu.Lock()
	defer s.inMu.Unlock()
	_, err := s.term.Write(p)
	return err
}

var errReadOnly = errors.New("read-only: the owner has not let watchers type")

func (a *attachment) mayType() bool {
	if a.write {
		return true
	}
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.s.share == ShareType
}

// resize sets the terminal's size, for a page that may type; the other
// pages are told.
func (a *attachment) resize(cols, rows int) error {
	if !a.mayType() {
		return errReadOnly
	}
	s := a.s
	s.mu.Lock()
	if s.cols == cols && s.rows == rows {
		s.mu.Unlock()
		return nil
	}
	s.cols, s.rows = cols, rows
	for o := range s.atts {
		if o != a {
			o.v.resized(o.ch, cols, rows)
		}
	}
	s.mu.Unlock()
	if s.rec != nil {
		s.recMu.Lock()
		s.rec.Resize(time.Now(), cols, rows)
		s.recMu.Unlock()
	}
	s.inMu.Lock()
	defer s.inMu.Unlock()
	return s.term.Resize(cols, rows)
}

// Size returns the terminal's size.
func (s *Session) Size() (cols, rows int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cols, s.rows
}

// SetShare sets who else may attach.
func (s *Session) SetShare(sh Share) {
	s.mu.Lock()
	s.share = sh
	s.mu.Unlock()
}

// Shared returns who else may attach.
func (s *Session) Shared() Share {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.share
}

// Attached returns how many pages are attached.
func (s *Session) Attached() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.atts)
}

// Close ends the session: the shell is hung up (SIGHUP), the pages are
// told why, and it leaves the registry. It does not wait for the shell to
// exit: Done is closed once it has.
func (s *Session) Close(reason string) {
	s.mu.Lock()
	if s.reason == "" {
		s.reason = reason
	}
	s.closing = true
	s.cond.Broadcast()
	s.mu.Unlock()
	s.term.Close()
}

// end runs once the terminal has ended: the pages are told, the recording
// and the audit record closed.
func (s *Session) end(reason string) {
	s.endOnce.Do(func() {
		end := time.Now()
		// Out of the registry before any page hears of the end: a page
		// told "ended" finds it neither listed nor attachable.
		s.reg.forget(s.Meta.ID)
		s.mu.Lock()
		if s.reason == "" {
			s.reason = reason
		}
		reason = s.reason
		s.ended = true
		s.cond.Broadcast()
		if s.grace != nil {
			s.grace.Stop()
		}
		for a := range s.atts {
			a.v.ended(a.ch, s.Meta.ID, reason)
		}
		clear(s.atts)
		s.mu.Unlock()
		s.term.Close()
		recID := ""
		if s.rec != nil {
			s.recMu.Lock()
			s.rec.Close(end)
			s.recMu.Unlock()
			if r, ok := s.rec.(record.IDer); ok {
				recID = r.RecordingID()
			}
		}
		s.reg.ended(s, end, reason, recID)
		close(s.done)
	})
}

// Paused reports whether the output is held back, and how many times it
// has been: for tests and figures.
func (s *Session) Paused() (paused bool, times int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused, s.pauses
}
