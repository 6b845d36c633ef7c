package auth

import (
	"context"
	"sync"
	"time"
)

// MemoryStore is a Store in memory, for one console: its sessions end
// when the console stops. It holds at most its maximum: adding a session
// to a full store drops the expired sessions, then, if it is still full,
// the least recently used one, so a new login always succeeds. It is safe
// for concurrent use.
type MemoryStore struct {
	max int

	mu       sync.Mutex
	sessions map[string]Session // guarded by mu
}

// NewMemoryStore returns a store of at most max sessions; max <= 0 means
// DefaultMaxSessions.
func NewMemoryStore(max int) *MemoryStore {
	if max <= 0 {
		max = DefaultMaxSessions
	}
	return &MemoryStore{max: max, sessions: make(map[string]Session)}
}

// Add stores s, dropping sessions as the type's comment says when full.
func (m *MemoryStore) Add(_ context.Context, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sessions) >= m.max {
		m.sweep(s.Created)
	}
	if len(m.sessions) >= m.max {
		var lru string
		for k, old := range m.sessions {
			if lru == "" || old.Seen.Before(m.sessions[lru].Seen) {
				lru = k
			}
		}
		delete(m.sessions, lru)
	}
	m.sessions[s.Key] = s
	return nil
}

// Get returns the session with key, or ErrNoSession.
func (m *MemoryStore) Get(_ context.Context, key string) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[key]
	if !ok {
		return Session{}, ErrNoSession
	}
	return s, nil
}

// Update replaces the session with s.Key, or returns ErrNoSession.
func (m *MemoryStore) Update(_ context.Context, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[s.Key]; !ok {
		return ErrNoSession
	}
	m.sessions[s.Key] = s
	return nil
}

// Delete removes the session with key, if there is one.
func (m *MemoryStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, key)
	return nil
}

// Sweep removes the sessions expired at now.
func (m *MemoryStore) Sweep(_ context.Context, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	return nil
}

func (m *MemoryStore) sweep(now time.Time) {
	for k, s := range m.sessions {
		if !now.Before(s.Expires) {
			delete(m.sessions, k)
		}
	}
}

// Len returns how many sessions the store holds, expired ones not yet
// swept included.
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}
