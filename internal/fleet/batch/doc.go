// Package batch runs one command on many hosts over SSH, as pdsh,
// ClusterShell and parallel-ssh do, and reports it as a stream of events:
// the engine of wsdeck exec and of the console's Exec tab.
//
// # Running a job
//
// [Run] takes a [Config] (targets from package hostexpr, the command, and
// SSH settings whose zero values mean the defaults) and a handler:
//
//	hosts, err := hostexpr.Parse("127.0.0.1-100", nil)
//	sum, err := batch.Run(ctx, batch.Config{Targets: hosts, Command: "uptime"},
//		func(ev batch.Event) { ... })
//
// Connections use golang.org/x/crypto/ssh: keys from ssh-agent
// (SSH_AUTH_SOCK) and from key files (Config.Identities, then the user's
// default keys), the user from user@, Config.User or the current user, the
// port from :port, Config.Port or 22, and HostName, User, Port and
// IdentityFile from ~/.ssh/config and /etc/ssh/ssh_config. Host keys are
// checked against known_hosts (hashed entries, wildcard patterns such as
// [127.0.0.*]:2222, @revoked, @cert-authority); an unknown host fails
// unless Config.AcceptNew, which trusts it on first use and records it; a
// changed key always fails. Connecting, the handshake and authentication
// are bounded together by Config.ConnectTimeout (10 s). The target local
// runs the command with /bin/sh -c on this machine, without SSH.
//
// At most Config.Fanout hosts (64) run at once. Each host's stdout and
// stderr are delivered apart, in whole lines as they complete (a line
// longer than DefaultMaxLine in pieces of that size; a last line without
// a newline when the command ends), up to Config.MaxOutput bytes per host
// (1 MiB). The cap falls between lines: the line that would cross it is
// dropped whole, and it and everything after it are counted, not
// delivered. A local command gets a scrubbed environment (PATH, HOME,
// USER, LOGNAME, SHELL, LANG, LANGUAGE, LC_*, TZ, TMPDIR only), as an
// SSH session does, so the caller's secrets stay out of it. Cancelling ctx stops
// the whole job promptly: queued hosts are not contacted, running commands
// get SIGTERM, then SIGKILL after Config.KillGrace, and every session and
// connection is closed. Remote commands run inside a small /bin/sh
// watchdog (see watchdog.go) that ends them when the session's stdin
// closes, because OpenSSH ignores signal requests in root's sessions and
// nothing at all reaches a command whose connection dropped; a signal
// request is sent as well. Config.RawCommand turns the watchdog off.
//
// # Events
//
// The handler receives, for each target, in this order:
//
//	EventStarted   {Index, Host}                 its turn came (not sent if cancelled before)
//	EventOutput    {Index, Host, Stream, Data}   zero or more chunks, stdout and stderr apart
//	EventCapped    {Index, Host, Stream}         at most once: the output was cut at the cap, after a whole line
//	EventFinished  {Index, Host, Result}         exactly once
//
// The events of different hosts interleave. Job-level events have Index
// -1: EventWarning {Message} (a key skipped, a host key recorded on first
// use), and EventSummary {Summary}, which is always the last event.
//
// Run calls the handler from one goroutine at a time, never concurrently,
// so it needs no locking; it should return quickly, because while it runs
// the job's output waits (a slow handler slows the hosts down, it does not
// make Run buffer without bound). Data belongs to the handler and may be
// kept or queued. Result and Summary are complete when sent and not
// changed afterwards.
//
// A [Result] says how the host ended: [Status] (ok, exit, signal, refused,
// unreachable, timeout, auth-failed, hostkey-unknown, hostkey-changed,
// hostkey-revoked, command-timeout, canceled, denied, error), the exit
// code, the error, the duration and the byte counts. Status, EventType and
// Stream marshal to JSON as names and Result as a flat object, so a server
// can forward events as they are: a WebSocket writer that sends Output as
// terminal text prefixed with the host (see [LineSplitter]) and Finished
// and Summary as rows of a results table.
//
// # Around a job
//
// [Policy] is the console's --allow-hosts: which targets a job may reach
// (default loopback and local), checked by name and again for every
// address dialled. [AuditLog] appends a JSON line per job start and end,
// synced before Write returns, each chained to the one before by its hash
// so that edits and removed lines show ([VerifyAuditLog]). [LineSplitter] and [Gather]
// turn chunks into prefixed lines and into dshbak -c style blocks.
package batch
