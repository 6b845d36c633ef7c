// Package fleetmon is the console's Fleet Monitor: live figures of every
// host an expression names, read over SSH with nothing installed on the
// hosts.
//
// For each watched host one node of the console (the host's owner) keeps
// one long-lived SSH session that runs procstat.Loop, a POSIX shell loop
// printing the kernel's counters once a second, parses them
// (package procstat), and publishes a Record a second on the host's
// subject, fleet.h.<hex of the host>, of the fleet stream, which keeps
// Options.History of them per host. Every node reads the stream, so every
// node shows the same, and a host's detail opened later gets its history.
//
// Demand works as the Monitor's: a node whose pages watch host H keeps
// the key <H>.<node> fresh in the fleet-demand bucket (rewritten every
// Beat, lapsing after three). Nodes with viewers of H race to create
// H's key in the fleet-owners bucket; the one that does samples H, and
// keeps the key fresh while any demand key of H lives, stopping Linger
// after the last one went. A dead owner's key lapses and another node
// takes over. So two viewers of a host, on any nodes, cost one session.
//
// Sessions are dialled through package batch (a Dialer: the ssh config,
// keys, known_hosts and the --allow-hosts policy, as Exec; loaded once
// for all hosts, and again when one of those files changes), at most
// Options.Fanout connecting at once. Each runs on a bare connection
// (batch.Conn) and a session channel of its own: its sampler reads
// stdout and answers the server's requests between samples, and one
// goroutine drains stderr. A lost session reconnects with
// exponential backoff and jitter. A host is shown stale when its last
// sample is older than Options.Stale, and down when older than
// Options.Down, or when connecting fails (the reason shown: an unknown
// host key is refused and named as such); output procstat does not know
// shows as unsupported.
//
// Pages (/ws/fleet) watch an expression, checked against the user's role
// and the policy as an Exec run is, and get one frame a second with the
// figures of all their hosts. The wire protocol is in docs/protocol.md.
package fleetmon
