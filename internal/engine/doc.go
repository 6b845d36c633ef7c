// Package engine owns wsdeck's durable state and its messaging between
// console nodes: NATS with JetStream. It is the only package that imports
// the NATS server and client; chat, jobs, monitor, audit and sessions use
// the small, feature-neutral primitives below through interfaces they
// declare where they use them, each on subjects, streams and buckets of
// its own.
//
// # Two modes
//
// Embedded (Config.URLs empty, the default): [Open] starts a NATS server
// with JetStream inside the process and connects to it in-process, with
// no listening port unless Config.ListenAddr asks for one. Its files live
// under Config.StateDir/nats (StateDir defaults to $XDG_STATE_HOME/wsdeck,
// else ~/.local/state/wsdeck, made with mode 0700), and an flock there
// keeps a second process off them. A restart on the same directory keeps
// every stream entry, key and object. An acknowledged write was written
// to the file before the acknowledgement, so it survives the process
// being killed; the files are fsynced every two minutes, or at every
// write with Config.SyncAlways.
//
// External (Config.URLs set): Open connects to an existing NATS
// deployment, with Config.CredsFile and TLS files if it needs them; any
// number of wsdeck nodes connected to it share its streams and buckets.
// Streams and buckets get min(3, cluster size) replicas unless their
// config says otherwise. A server that cannot be reached at Open is an
// error naming it (never its credentials) within Config.ConnectTimeout.
//
// In both modes a lost connection is retried forever, and nothing is
// buffered meanwhile: a publish fails at once with [ErrDisconnected], and
// works again once the connection is back. [Engine.Health] says whether
// JetStream answers; [Engine.Stats] gives the connection's figures.
// [Engine.Shutdown] drains the connection and stops the embedded server
// and all its goroutines.
//
// # Primitives
//
// A [Stream] ([Engine.Stream]) is a log of entries ([Msg]) on a set of
// subjects, numbered by a sequence that only grows, bounded by count,
// bytes and age (the oldest go first), optionally refusing deletes and
// purges (for audit). [Stream.Publish] stores an entry and returns its
// sequence, storing a resend with the same message id once.
// [Stream.Read] and [Stream.Last] read history; [Stream.Subscribe]
// delivers entries live, in order, from a given sequence.
//
// A [Bucket] ([Engine.Bucket]) is a key-value map with revisions:
// [Bucket.Create] only if absent, [Bucket.Update] only at a given
// revision, and [Bucket.Watch] for changes.
//
// [Objects] ([Engine.Objects]) stores named blobs of any size (terminal
// recordings), streamed in and out in chunks and checked by digest.
//
// Types in the API are the package's own; errors wrap the package's
// sentinels ([ErrNotFound], [ErrExists], [ErrRevision], [ErrDenied],
// [ErrDisconnected], [ErrUnavailable], [ErrClosed]) for errors.Is.
package engine
