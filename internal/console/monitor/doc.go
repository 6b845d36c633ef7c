// Package monitor samples the machine (CPU, memory, load, network, disk)
// for the console's Monitor page, and keeps the samples in the engine.
//
// Each node publishes its samples on a subject of its own, monitor.<node>,
// of the monitor stream, which keeps History of them; a viewer, on any
// node, picks a node and gets that node's samples from the stream as a
// backfill, then every later one live, through a topic.
//
// A node samples only while someone, on any node, watches it: a node with
// viewers of node N keeps the key N.<its name> fresh in the monitor-watch
// bucket, and N samples while at least one such key lives. Keys are
// rewritten every Beat, deleted when the last viewer leaves, and lapse
// after three Beats when their node has died. Likewise every node keeps
// its entry in the monitor-nodes bucket fresh, which makes the node list
// pages choose from.
//
// The wire protocol is in docs/protocol.md.
package monitor
