package engine

import (
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Msg is one stream entry.
type Msg struct {
	Seq     uint64    // the stream's sequence of the entry
	Subject string    // the subject it was published on
	Data    []byte    // the payload, as published
	Time    time.Time // when the stream stored it
	Header  map[string][]string
}

// ID returns the message id it was published with (Publish's msgID), or
// "".
func (m Msg) ID() string {
	if v := m.Header[nats.MsgIdHdr]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func header(h nats.Header) map[string][]string {
	if len(h) == 0 {
		return nil
	}
	return map[string][]string(h)
}

// fromJS converts a message delivered by a consumer.
func fromJS(m jetstream.Msg) (Msg, error) {
	md, err := m.Metadata()
	if err != nil {
		return Msg{}, err
	}
	return Msg{
		Seq:     md.Sequence.Stream,
		Subject: m.Subject(),
		Data:    m.Data(),
		Time:    md.Timestamp,
		Header:  header(m.Headers()),
	}, nil
}
