package jobs

import (
	"context"
	"encoding/json"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/console/topic"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// maxAuditRead is the most records one audit reply holds.
const maxAuditRead = 1000

// auditRequest asks for the audit log's records from a sequence: one
// reply of at most Limit records, or with Follow, the records from there
// on, live.
type auditRequest struct {
	ID     string `json:"id"`
	From   uint64 `json:"from"`
	Limit  int    `json:"limit"`
	Follow bool   `json:"follow"`
}

// auditMessage carries audit records, oldest first. More says there are
// more after Next: ask again from there.
type auditMessage struct {
	Type    string         `json:"type"` // "audit"
	ID      string         `json:"id,omitempty"`
	Records []audit.Record `json:"records"`
	Next    uint64         `json:"next"`
	More    bool           `json:"more,omitempty"`
	Live    bool           `json:"live,omitempty"` // a record stored after the follow began
}

// newAuditTopic returns the topic that followers of the audit log join.
func (s *Service) newAuditTopic() *topic.Topic {
	return topic.New(s.opts.Audit.Stream(), topic.Options{
		Subject: "audit.>",
		Log:     s.opts.Logger,
		Encode: func(m engine.Msg) ([]byte, error) {
			var r audit.Record
			if err := json.Unmarshal(m.Data, &r); err != nil {
				return nil, err
			}
			r.Seq = m.Seq
			return json.Marshal(auditMessage{Type: "audit", Records: []audit.Record{r}, Next: m.Seq + 1, Live: true})
		},
	})
}

// serveAudit answers an audit request: the console's way for wsdeck audit
// to read the log while the console holds the embedded engine.
func (v *viewer) serveAudit(ctx context.Context, req auditRequest) error {
	s := v.s
	if !req.Follow {
		limit := req.Limit
		if limit <= 0 || limit > maxAuditRead {
			limit = maxAuditRead
		}
		recs, err := audit.Read(ctx, s.opts.Audit.Stream(), req.From, limit)
		if err != nil {
			return socket.Errorf(CodeAudit, "reading the audit log: %v", err)
		}
		m := auditMessage{Type: "audit", ID: req.ID, Records: recs, Next: req.From, More: len(recs) == limit}
		if len(recs) > 0 {
			m.Next = recs[len(recs)-1].Seq + 1
		}
		v.c.SendOwn(mustJSON(m))
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.audit {
		return nil
	}
	from := topic.From{Seq: req.From, Max: maxAuditRead}
	err := s.auditTopic.Join(ctx, v.c, from, func(b topic.Backlog) {
		m := auditMessage{Type: "audit", ID: req.ID, Records: []audit.Record{}, Next: b.Last + 1, More: b.Truncated}
		for _, msg := range b.Msgs {
			var r audit.Record
			if json.Unmarshal(msg.Data, &r) == nil {
				r.Seq = msg.Seq
				m.Records = append(m.Records, r)
			}
		}
		v.c.SendOwn(mustJSON(m))
	})
	if err != nil {
		return socket.Errorf(CodeAudit, "following the audit log: %v", err)
	}
	v.audit = true
	return nil
}
