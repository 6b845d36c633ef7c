package server

import (
	"context"
	"sync"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/websocket"
)

// CloseSessionEnded is the close code of a socket whose login session
// ended (logout, expiry, a new login from the same browser): the client
// must log in again before it reconnects. It is in the private-use range
// (RFC 6455 section 7.4.2), after HTTP's 401.
const CloseSessionEnded websocket.StatusCode = 4401

// Reasons a socket is refused for the caps, as the metrics name them.
const (
	limitTotal     = "max_conns"
	limitPerClient = "max_conns_per_client"
)

// openSocket is an accepted connection, its client (as the caps count
// it) and its session key ("" with the bearer token).
type openSocket struct {
	ws      *websocket.Conn
	sc      *socket.Conn
	client  string
	session string
	token   bool // opened with the bearer token, without a session
}

// socketSet tracks the WebSocket connections: the caps (in all and per
// client), the sockets of each session, and shutdown's wait and cut. A
// client is a session when there is one, else a remote address.
type socketSet struct {
	max, perClient int

	mu       sync.Mutex
	n        int                                 // guarded by mu: slots taken, handshakes in progress included
	clients  map[string]int                      // guarded by mu: slots taken by each client
	conns    map[*openSocket]struct{}            // guarded by mu
	sessions map[string]map[*openSocket]struct{} // guarded by mu: open sockets by session key
	idle     chan struct{}                       // guarded by mu: closed when n drops to 0; nil while n is 0
}

func (ss *socketSet) init(max, perClient int) {
	ss.max, ss.perClient = max, perClient
	ss.clients = make(map[string]int)
	ss.conns = make(map[*openSocket]struct{})
	ss.sessions = make(map[string]map[*openSocket]struct{})
}

// check returns the cap that client would go over with one more socket
// (limitPerClient or limitTotal), or "".
func (ss *socketSet) check(client string) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.over(client)
}

func (ss *socketSet) over(client string) string {
	switch {
	case ss.clients[client] >= ss.perClient:
		return limitPerClient
	case ss.n >= ss.max:
		return limitTotal
	}
	return ""
}

// acquire takes a slot for client, or returns the cap it would go over.
func (ss *socketSet) acquire(client string) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if limit := ss.over(client); limit != "" {
		return limit
	}
	if ss.n == 0 {
		ss.idle = make(chan struct{})
	}
	ss.n++
	ss.clients[client]++
	return ""
}

func (ss *socketSet) release(client string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.clients[client]--; ss.clients[client] == 0 {
		delete(ss.clients, client)
	}
	ss.n--
	if ss.n == 0 {
		close(ss.idle)
		ss.idle = nil
	}
}

func (ss *socketSet) add(o *openSocket) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.conns[o] = struct{}{}
	if o.session != "" {
		set := ss.sessions[o.session]
		if set == nil {
			set = make(map[*openSocket]struct{})
			ss.sessions[o.session] = set
		}
		set[o] = struct{}{}
	}
}

func (ss *socketSet) remove(o *openSocket) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.conns, o)
	if set := ss.sessions[o.session]; set != nil {
		delete(set, o)
		if len(set) == 0 {
			delete(ss.sessions, o.session)
		}
	}
}

func (ss *socketSet) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.conns)
}

// sessionKeys returns the keys of the sessions with open sockets.
func (ss *socketSet) sessionKeys() []string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	keys := make([]string, 0, len(ss.sessions))
	for k := range ss.sessions {
		keys = append(keys, k)
	}
	return keys
}

// closeSession starts closing every socket of the session with key with
// CloseSessionEnded, without waiting, and returns how many there were.
func (ss *socketSet) closeSession(key string) int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for o := range ss.sessions[key] {
		o.sc.Close(CloseSessionEnded, "session ended")
	}
	return len(ss.sessions[key])
}

// closeTokenSockets closes the sockets opened with the bearer token (a
// script's), with reason, and returns how many.
func (ss *socketSet) closeTokenSockets(reason string) int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := 0
	for o := range ss.conns {
		if o.token {
			o.sc.Close(CloseSessionEnded, reason)
			n++
		}
	}
	return n
}

// wait waits until no slot is taken, or ctx is done, and reports which.
func (ss *socketSet) wait(ctx context.Context) bool {
	ss.mu.Lock()
	idle := ss.idle
	ss.mu.Unlock()
	if idle == nil {
		return true
	}
	select {
	case <-idle:
		return true
	case <-ctx.Done():
		return false
	}
}

// cutAll closes every open connection without a close handshake.
func (ss *socketSet) cutAll() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for o := range ss.conns {
		o.ws.CloseNow()
	}
	return len(ss.conns)
}
