// Package shell runs the console's interactive terminals (the Shell tab):
// a shell on a PTY on a host over SSH, or on the console's own machine,
// served to pages over /ws/shell.
//
// A Session is one terminal. Over SSH it is a login shell on a PTY of the
// page's size with TERM=xterm-256color, reached by package batch's rules
// (ssh config, keys, known_hosts, --allow-hosts for the name and every
// address dialled; batch.Dial); a resize is a window-change request, and
// Ctrl-C is the byte 0x03 typed into the PTY, whose line discipline sends
// SIGINT. A local terminal (creack/pty) runs $SHELL as the user the
// console runs as, so only admins may open one, and only if the ceiling
// (--allow-hosts) lists local: access.go states every rule.
//
// Sessions outlive their pages. The Registry keeps each running while no
// page is attached for Options.Grace, then hangs it up; a page that
// attaches within it is sent the newest Options.Scrollback bytes first,
// so the screen comes back as it was. A session ends when its shell
// exits, or on Close (the page's Close button; an admin's too).
//
// Output is paced by watermarks, as ttyd does: each page acks the bytes
// it has drawn; when an owner's page has HighWater bytes sent and not
// acked, the session stops reading its terminal (the remote program
// blocks on a full PTY, and SSH's window holds the rest) until every
// owner's page is below LowWater. Memory stays flat under `yes`, and a
// page that draws slowly throttles the program instead of being flooded.
// Read-only watchers never hold the output back: one that falls
// WatcherLimit behind is detached and attaches again from the scrollback.
//
// Recording: Options.Record (package record's Factory) gets every
// session's output, input and resizes; the session's audit end record
// names the recording's id.
//
// Several nodes: a session lives on the node that runs it, in its
// memory (a PTY and an SSH connection cannot move), and its id starts
// with that node's name. A page that reconnects to another node and asks
// for it is told which node runs it (CodeElsewhere); the load balancer
// must route /ws/shell back (sticky sessions, as for any stateful
// terminal server). Relaying every keystroke and output byte through the
// engine would let any node serve it, at the cost of a round trip through
// NATS per keystroke and of the engine carrying `yes`; wsdeck does not do
// that today. Recordings, which any node must read, go through the
// engine's object store.
package shell
