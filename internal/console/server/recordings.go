package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/recording"
	"github.com/wsdeck/wsdeck/internal/console/shell/record"
	"github.com/wsdeck/wsdeck/internal/console/users"
)

// The recordings of terminal sessions (package recording), behind the
// Guard:
//
//	GET /api/recordings              the recordings the request may open, newest
//	                                 first; ?user=, ?host=, ?since=, ?until= (RFC 3339)
//	GET /api/recordings/{id}         one recording's index entry
//	GET /api/recordings/{id}/cast    its asciicast v2 file
//
// Who may open what is decided here, by the role the policy in force gives
// the request's identity: an admin every recording, an operator those of
// their own sessions, a viewer none (403). Another's recording is answered
// as one that does not exist (404), so that ids cannot be probed.

// openRecordings opens the recordings' store in the engine. A recording
// this node marks interrupted (its node died) has its session's end
// audited in log, as its node would have.
func (s *Server) openRecordings(ctx context.Context, log *audit.Log) error {
	opts := s.cfg.Recordings
	if opts.Logf == nil {
		opts.Logf = func(format string, args ...any) { s.log.Warn(fmt.Sprintf(format, args...)) }
	}
	if opts.Interrupted == nil && log != nil {
		opts.Interrupted = func(in recording.Info) {
			ctx, cancel := context.WithTimeout(context.Background(), auditTimeout)
			defer cancel()
			rec := audit.Record{Time: in.End, Event: audit.EventShellEnd, Job: in.Session, Client: "web",
				Expression: in.Host, Hosts: 1, Node: in.Node, State: "interrupted",
				ElapsedMS: in.End.Sub(in.Start).Milliseconds(), User: in.User, Role: in.Role, Recording: in.ID,
				Reason: "the node running the session stopped heartbeating its recording; how it ended is unknown"}
			if _, err := log.Write(ctx, rec); err != nil {
				s.log.Error("shell: audit record not written", "event", rec.Event, "session", rec.Job, "err", err)
			}
		}
	}
	st, err := recording.Open(ctx, s.engine, opts)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.recordings = st
	return nil
}

// closeRecordings stores what this node's recordings still hold, after the
// terminal sessions have ended.
func (s *Server) closeRecordings(ctx context.Context) {
	if s.recordings == nil {
		return
	}
	if err := s.recordings.Close(ctx); err != nil {
		s.log.Warn("shutdown: recordings", "err", err)
	}
}

// RecordFactory is the hook that records a terminal session (the shell
// endpoint's Options.Record), or nil before the endpoints are built.
func (s *Server) RecordFactory() record.Factory {
	if s.recordings == nil {
		return nil
	}
	return s.recordings.Factory()
}

// Recordings returns the recordings' store (tests).
func (s *Server) Recordings() *recording.Store { return s.recordings }

// recordingAccess returns who the request is and whether it may open any
// recording; it answers 403 when it may not.
func (s *Server) recordingAccess(w http.ResponseWriter, r *http.Request) (user string, all, ok bool) {
	id, _ := auth.IdentityFrom(r.Context())
	role := s.effectiveRole(id)
	switch {
	case role.AtLeast(users.Admin):
		return id.User, true, true
	case role.AtLeast(users.Operator):
		return id.User, false, true
	}
	http.Error(w, "wsdeck: a viewer may not open recordings (operators their own sessions', admins all)", http.StatusForbidden)
	return "", false, false
}

func (s *Server) apiRecordings(w http.ResponseWriter, r *http.Request) {
	user, all, ok := s.recordingAccess(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := recording.Filter{User: q.Get("user"), Host: q.Get("host")}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				http.Error(w, "wsdeck: "+p.name+" is not an RFC 3339 time", http.StatusBadRequest)
				return
			}
			*p.t = t
		}
	}
	if !all {
		if f.User != "" && f.User != user {
			writeJSON(w, http.StatusOK, []recording.Info{})
			return
		}
		f.User = user
	}
	writeJSON(w, http.StatusOK, s.recordings.List(f))
}

// recordingFor returns the recording of the request's {id} if the request
// may open it, answering the request otherwise.
func (s *Server) recordingFor(w http.ResponseWriter, r *http.Request) (recording.Info, bool) {
	user, all, ok := s.recordingAccess(w, r)
	if !ok {
		return recording.Info{}, false
	}
	in, err := s.recordings.Get(r.Context(), r.PathValue("id"))
	if err == nil && !all && in.User != user {
		err = recording.ErrNotFound
	}
	switch {
	case errors.Is(err, recording.ErrNotFound):
		http.Error(w, "wsdeck: no such recording", http.StatusNotFound)
		return recording.Info{}, false
	case err != nil:
		s.log.Warn("recordings: reading", "err", err)
		storeUnavailable(w)
		return recording.Info{}, false
	}
	return in, true
}

func (s *Server) apiRecording(w http.ResponseWriter, r *http.Request) {
	if in, ok := s.recordingFor(w, r); ok {
		writeJSON(w, http.StatusOK, in)
	}
}

func (s *Server) apiRecordingCast(w http.ResponseWriter, r *http.Request) {
	in, ok := s.recordingFor(w, r)
	if !ok {
		return
	}
	rc, _, err := s.recordings.Open(r.Context(), in.ID)
	if err != nil {
		s.log.Warn("recordings: reading", "id", in.ID, "err", err)
		storeUnavailable(w)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/x-asciicast")
	h.Set("Content-Disposition", `attachment; filename="`+in.ID+`.cast"`)
	h.Set("Cache-Control", "no-store")
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Info("recordings: sending", "id", in.ID, "err", err)
	}
}
