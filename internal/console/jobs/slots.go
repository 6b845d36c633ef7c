package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// The running jobs of the console are one value, slotsKey in the
// slotsBucket, changed only by compare-and-set: a start takes a slot
// there before it runs, so the caps hold across nodes however starts
// race, and a job's end gives it back.
const (
	slotsBucket = "jobs_running"
	slotsKey    = "running"
)

// slot is a running job, as the caps count it.
type slot struct {
	ID    string    `json:"id"`
	User  string    `json:"user"`
	Node  string    `json:"node"`
	Since time.Time `json:"since"`
}

// changeSlots applies change to the slots with a compare-and-set, reading
// them again when another node wrote them meanwhile. change returns an
// error to leave them as they are.
func (s *Service) changeSlots(ctx context.Context, change func([]slot) ([]slot, error)) error {
	for range 50 {
		var (
			slots []slot
			rev   uint64
		)
		e, err := s.slots.Get(ctx, slotsKey)
		switch {
		case errors.Is(err, engine.ErrNotFound):
		case err != nil:
			return err
		default:
			rev = e.Revision
			if err := json.Unmarshal(e.Value, &slots); err != nil {
				return fmt.Errorf("running jobs: %w", err)
			}
		}
		slots, err = change(slots)
		if err != nil {
			return err
		}
		b := mustJSON(slots)
		if rev == 0 {
			_, err = s.slots.Create(ctx, slotsKey, b)
		} else {
			_, err = s.slots.Update(ctx, slotsKey, b, rev)
		}
		if errors.Is(err, engine.ErrRevision) || errors.Is(err, engine.ErrExists) {
			continue
		}
		return err
	}
	return errors.New("running jobs: too many concurrent changes")
}

// acquire takes a slot for job id of user, or refuses it with a busy
// error when the console's or the user's cap is reached.
func (s *Service) acquire(ctx context.Context, id, user string) error {
	return s.changeSlots(ctx, func(slots []slot) ([]slot, error) {
		mine := 0
		for _, sl := range slots {
			if sl.User == user {
				mine++
			}
		}
		switch {
		case len(slots) >= s.opts.MaxJobs:
			return nil, socket.Errorf(CodeBusy, "%d jobs are running, the console's limit (--exec-max-jobs): wait for one or cancel one", len(slots))
		case mine >= s.opts.MaxClientJobs:
			return nil, socket.Errorf(CodeBusy, "you have %d jobs running, the limit per client (--exec-max-client-jobs): wait for one or cancel one", mine)
		}
		return append(slots, slot{ID: id, User: user, Node: s.opts.Node, Since: time.Now().UTC()}), nil
	})
}

// release gives back the slots of jobs ids.
func (s *Service) release(ctx context.Context, ids ...string) {
	err := s.changeSlots(ctx, func(slots []slot) ([]slot, error) {
		n := len(slots)
		slots = slices.DeleteFunc(slots, func(sl slot) bool { return slices.Contains(ids, sl.ID) })
		if len(slots) == n {
			return nil, errNothing
		}
		return slots, nil
	})
	if err != nil && !errors.Is(err, errNothing) {
		s.opts.Logger.Warn("exec: releasing a job's slot", "jobs", ids, "err", err)
	}
}

var errNothing = errors.New("nothing to change")

// sweepSlots gives back the slots of jobs that are not running: ended or
// interrupted where their release was lost, or never recorded (a node
// that died between taking the slot and storing the record). A slot
// younger than Options.Lapse is left alone: its job may be starting.
func (s *Service) sweepSlots(ctx context.Context) {
	e, err := s.slots.Get(ctx, slotsKey)
	if err != nil {
		return
	}
	var slots []slot
	if json.Unmarshal(e.Value, &slots) != nil {
		return
	}
	var stale []string
	now := time.Now()
	for _, sl := range slots {
		if now.Sub(sl.Since) < s.opts.Lapse {
			continue
		}
		rec, _, err := s.getRecord(ctx, sl.ID)
		if errors.Is(err, engine.ErrNotFound) || (err == nil && rec.State != StateRunning) {
			stale = append(stale, sl.ID)
		}
	}
	if len(stale) > 0 {
		s.release(ctx, stale...)
	}
}
