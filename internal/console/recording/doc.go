// Package recording records terminal sessions in asciicast v2, the format
// asciinema plays, and keeps them in the engine so that any node can list,
// replay and export them, after a restart too.
//
// A recording is a header line and then one JSON array a line:
// [seconds, "o", text] for output, [seconds, "i", text] for input (only
// when Options.Input is set) and [seconds, "r", "COLSxROWS"] for a resize.
// It is written in segments: objects ID.000000, ID.000001, ... of the
// store's object store, each a whole number of lines, whose concatenation
// is the .cast file. The segment being written is stored again every
// Options.Flush, so a node that dies loses at most that much of it. The
// index, a KV bucket keyed by id, describes each recording (user, host,
// start, end, duration, size) for listing.
//
// Memory while recording is bounded: a recording holds its current segment
// and at most Options.Pending full ones waiting to be stored; what arrives
// beyond that is dropped and counted. A recording stops growing at
// Options.MaxBytes (marked truncated). Retention (Options.Keep, KeepBytes,
// KeepAge) is applied when a recording ends and every Options.PruneEvery.
//
// A node rewrites the index entries of its recordings in progress every
// Options.Heartbeat. A recording whose node dies (no Close) is marked
// interrupted (Info.Interrupted) by another node, or by the same one after
// a restart, once its entry has had no new revision for Options.Lapse: a
// compare-and-set, so one node does it, that ends the recording as what
// was stored (all but at most its last Options.Flush), within Lapse +
// Heartbeat of its last heartbeat (20 seconds by default).
package recording
