package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/topic"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// Defaults for Options.
const (
	DefaultHistory         = 100
	DefaultHistoryBytes    = 64 << 20
	DefaultHistoryAge      = 30 * 24 * time.Hour
	DefaultPresenceHistory = 100
	DefaultMaxRooms        = 100
	DefaultMaxText         = 4096
	DefaultDedupWindow     = 10 * time.Minute
)

// maxPresenceEntry bounds one presence entry (a nickname is at most 128
// bytes; an entry may list several events, see announcer), and so, with
// the per-room count, the presence stream's bytes.
const maxPresenceEntry = 8 << 10

// Options configure a Hub. The zero value means the defaults.
type Options struct {
	// History is how many messages each room keeps. 0 means
	// DefaultHistory.
	History int
	// HistoryBytes bounds the messages kept, in bytes, over all rooms. 0
	// means DefaultHistoryBytes.
	HistoryBytes int64
	// HistoryAge is how long a message (and a presence event) is kept. 0
	// means DefaultHistoryAge.
	HistoryAge time.Duration
	// PresenceHistory is how many presence events (joins, leaves,
	// nickname changes) of a room a welcome carries, apart from its
	// messages; each room keeps as many entries, an entry listing one
	// event or several announced together. 0 means
	// DefaultPresenceHistory.
	PresenceHistory int
	// MaxRooms is how many rooms the console may have, the default room
	// included. 0 means DefaultMaxRooms.
	MaxRooms int
	// MaxText is the largest message text, in bytes; a longer one is
	// refused with an error message. 0 means DefaultMaxText.
	MaxText int
	// DedupWindow is how long a message id is remembered, so that a page
	// resending a message after a reconnect stores it once. 0 means
	// DefaultDedupWindow; it is at most HistoryAge.
	DedupWindow time.Duration
	// Logger receives the hub's warnings; nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	if o.HistoryBytes <= 0 {
		o.HistoryBytes = DefaultHistoryBytes
	}
	if o.HistoryAge <= 0 {
		o.HistoryAge = DefaultHistoryAge
	}
	if o.PresenceHistory <= 0 {
		o.PresenceHistory = DefaultPresenceHistory
	}
	if o.MaxRooms <= 0 {
		o.MaxRooms = DefaultMaxRooms
	}
	if o.MaxText <= 0 {
		o.MaxText = DefaultMaxText
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	o.DedupWindow = min(o.DedupWindow, o.HistoryAge)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Hub is this node's side of the chat: the members connected to it and
// one topic per room they are in. Its methods are safe for concurrent use.
type Hub struct {
	opts  Options
	log   *slog.Logger
	msgs  *engine.Stream // the messages, a subject per room
	pres  *engine.Stream // the presence events, a subject per room, and chat.rooms
	rooms *engine.Bucket // the rooms

	mu         sync.Mutex
	closed     bool                    // guarded by mu
	members    map[*member]struct{}    // guarded by mu
	msgTopics  map[string]*topic.Topic // guarded by mu: by room
	preTopics  map[string]*topic.Topic // guarded by mu: by room
	announcers map[string]*announcer   // guarded by mu: by room
	flushing   sync.WaitGroup          // the announcers' flushes under way
	stopping   chan struct{}           // closed by Shutdown: flushes wait no more
	// An announcer's gather: gatherPer for each member, at most
	// gatherMax (presenceGatherPerMember and maxPresenceGather; tests
	// set others before any member joins).
	gatherPer, gatherMax time.Duration
	roomTopic            *topic.Topic // room announcements
	roomList             roomList     // the rooms, as announced
	epoch                atomic.Value // string: the streams' epoch, as last seen
}

// streamInfo returns the two streams' state, and notes their epoch.
func (h *Hub) streamInfo(ctx context.Context) (msgs, pres engine.StreamInfo, err error) {
	if msgs, err = h.msgs.Info(ctx); err != nil {
		return
	}
	if pres, err = h.pres.Info(ctx); err != nil {
		return
	}
	h.epoch.Store(epoch(msgs, pres))
	return
}

// New makes (or updates) the chat's streams and bucket in e, with the
// limits of opts, makes sure the default room exists, and returns the hub.
// The error is the engine's, wrapped.
func New(ctx context.Context, e *engine.Engine, opts Options) (*Hub, error) {
	opts = opts.withDefaults()
	msgs, err := e.Stream(ctx, engine.StreamConfig{
		Name:              msgStream,
		Subjects:          []string{msgSubject("*")},
		MaxMsgsPerSubject: int64(opts.History),
		MaxBytes:          opts.HistoryBytes,
		MaxAge:            opts.HistoryAge,
		Duplicates:        opts.DedupWindow,
	})
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	pres, err := e.Stream(ctx, engine.StreamConfig{
		Name:              presenceStream,
		Subjects:          []string{presenceSubject("*"), roomsSubject},
		MaxMsgsPerSubject: int64(opts.PresenceHistory),
		MaxBytes:          int64(opts.PresenceHistory) * int64(opts.MaxRooms+1) * maxPresenceEntry,
		MaxAge:            opts.HistoryAge,
		MaxMsgSize:        maxPresenceEntry,
		Duplicates:        opts.DedupWindow,
	})
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	rooms, err := e.Bucket(ctx, engine.BucketConfig{Name: roomsBucket, MaxValueSize: 1024})
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	h := &Hub{
		opts:       opts,
		log:        opts.Logger,
		msgs:       msgs,
		pres:       pres,
		rooms:      rooms,
		members:    make(map[*member]struct{}),
		msgTopics:  make(map[string]*topic.Topic),
		preTopics:  make(map[string]*topic.Topic),
		announcers: make(map[string]*announcer),
		stopping:   make(chan struct{}),
		gatherPer:  presenceGatherPerMember,
		gatherMax:  maxPresenceGather,
	}
	if _, _, err := h.streamInfo(ctx); err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	h.roomTopic = topic.New(pres, topic.Options{Subject: roomsSubject, Encode: encodeRoom, Log: h.log})
	// The hub's own sink on the announcements keeps the room list: it
	// gets each one before any member joined after it, so a welcome's
	// list and the live announcements leave no room out.
	if err := h.roomTopic.Join(ctx, &h.roomList, topic.From{}, func(topic.Backlog) {}); err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	keys, err := rooms.Keys(ctx)
	if err != nil {
		h.roomTopic.Close()
		return nil, fmt.Errorf("chat: rooms: %w", err)
	}
	h.roomList.add(keys...)
	if err := h.CreateRoom(ctx, DefaultRoom, ""); err != nil {
		h.roomTopic.Close()
		return nil, fmt.Errorf("chat: %w", err)
	}
	return h, nil
}

// ErrShutdown is returned to members joining after Shutdown.
var ErrShutdown = errors.New("chat shut down")

// topics returns room's topics, made on first use.
func (h *Hub) topics(room string) (msgs, pres *topic.Topic, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, ErrShutdown
	}
	msgs, ok := h.msgTopics[room]
	if !ok {
		// Each keeps what a joining page is given (the newest History
		// messages and PresenceHistory presence events): the pages that
		// join a room with members on this node cost the engine two
		// small requests, not a consumer's read each. (A CI run once
		// found a welcome served from kept entries with a hole in it;
		// the hole came from the read that seeded them, which now
		// notices entries lost to a timed-out pull: engine read.go.)
		msgs = topic.New(h.msgs, topic.Options{Subject: msgSubject(room), Encode: encode, Log: h.log, Keep: h.opts.History})
		pres = topic.New(h.pres, topic.Options{Subject: presenceSubject(room), Encode: encode, Log: h.log, Keep: h.opts.PresenceHistory})
		h.msgTopics[room], h.preTopics[room] = msgs, pres
	}
	return msgs, h.preTopics[room], nil
}

// Members returns the number of members connected to this node.
func (h *Hub) Members() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.members)
}

// Shutdown ends the hub's engine subscriptions: members get no more
// events, and joins fail. It does not wait for the members' connections,
// which the server closes. It never fails; ctx is unused.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	if !h.closed {
		close(h.stopping)
	}
	h.closed = true
	topics := []*topic.Topic{h.roomTopic}
	for room, t := range h.msgTopics {
		topics = append(topics, t, h.preTopics[room])
	}
	h.mu.Unlock()
	for _, t := range topics {
		t.Close()
	}
	// The presence events queued by then (the leaves of the members
	// going) are published, each within engineTimeout, without the
	// gather waits (stopping is closed).
	h.flushing.Wait()
	return nil
}
