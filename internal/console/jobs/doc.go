// Package jobs is the console's Exec endpoint, /ws/exec: clients ask for a
// command to be run on a host expression, a console node runs it with
// package batch, and every viewer on every node sees the job live: each
// host's output lines, its result, and the summary.
//
// # State on the engine
//
// A job has an id (8 lower-case letters and digits), a Record in the jobs
// bucket (who, from where, when, what, its hosts and its state), and its
// events on the subject jobs.<id>.events of the JOBS stream: one entry per
// batch of events, each entry an "events" message of the protocol as the
// pages get it. Starts and ends are also announced on jobs.<id>.state.
// Viewers join a job's events through a topic (package topic): a page that
// opens a job, on any node and at any time, is given its events so far
// (the last Options.ReplayBytes of output and every result) and then the
// rest live. The history outlives restarts; it is bounded by
// Options.MaxHistory jobs, Options.HistoryBytes and Options.HistoryAge.
//
// # Several jobs, several nodes
//
// Up to Options.MaxJobs jobs run at once across the console, and
// Options.MaxClientJobs per client (in team mode the user, whatever their
// sessions; in token mode its login session, else its address):
// a start takes a slot in one value of the jobs_running bucket, by
// compare-and-set, so the caps hold however starts on several nodes race,
// and the job's end (or its interruption) gives it back. Every node
// watches the jobs bucket and keeps an index of its records, which the
// list and the heartbeat checks read. A cancel from any node
// is written into the job's record (CancelBy); the node running the job
// sees it through its watch and cancels the job. The running node rewrites
// each of its jobs' records every Options.Heartbeat; a node that sees no
// new revision of a running job's record for Options.Lapse marks it
// interrupted (a compare-and-set, so one node does), writes its audit end
// record and sends its viewers a summary. So a job whose node died is
// marked interrupted within Lapse + Heartbeat of its last heartbeat (20
// seconds by default); its remote commands end by batch's watchdog, since
// their SSH connections died with the node.
//
// # Who may do what
//
// Every request is checked on the server, when it comes, against the
// identity of the connection (auth.IdentityFrom: the user, their role,
// how they logged in) and the roles' policy in force (Options.Roles,
// package policy; a reload applies to the next message): a viewer runs
// and cancels nothing; an operator runs only on the hosts of its host
// groups, may name them as @NAME, and cancels only its own jobs; an admin
// runs anywhere within the ceiling and cancels any job; only admins read
// the audit log. Everyone sees the history and watches jobs. The hello
// tells the page the user, role and groups, so that it hides the rest.
//
// Before a job runs, its expression is expanded (@NAME too; at most
// Options.MaxHosts hosts), checked against the role's hosts and the
// ceiling (--allow-hosts: by default only loopback and local), and a
// start record naming the user, how they logged in and the role used is
// stored in the audit log (package audit); a job that fails any of these
// does not run, and the client is told why. The end record follows when
// it ends.
//
// Events are batched: the pending ones are published every
// Options.FlushInterval, or at once when they reach Options.MaxBatch
// bytes. A job publishes at most Options.MaxTerminal bytes of output
// lines, cut at a line, with a "muted" event; beyond that only results
// are published.
package jobs
