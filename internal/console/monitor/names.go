package monitor

import (
	"crypto/rand"
	"fmt"
	"os"
	"strings"
)

// MaxNodeName is the longest node name, in bytes.
const MaxNodeName = 64

// Names in the engine. A node's samples are on the subject
// monitor.<node>; the demand bucket's keys are <node>.<viewer's node>.
const (
	streamName   = "monitor"
	nodesBucket  = "monitor-nodes"
	demandBucket = "monitor-watch"
)

func sampleSubject(node string) string         { return "monitor." + node }
func demandKey(node, viewerNode string) string { return node + "." + viewerNode }

// CheckNode reports whether name may name a node: 1 to MaxNodeName of
// A-Z, a-z, 0-9, - and _. Such a name is one token of a subject and of a
// bucket key as it is; a dot, a wildcard (* or >) or a space is not.
func CheckNode(name string) error {
	if name == "" || len(name) > MaxNodeName {
		return fmt.Errorf("node name %q: a node name has 1 to %d characters", name, MaxNodeName)
	}
	for i := 0; i < len(name); i++ {
		if !nodeChar(name[i]) {
			return fmt.Errorf("node name %q: only A-Z, a-z, 0-9, - and _ (no dots, spaces or wildcards)", name)
		}
	}
	return nil
}

func nodeChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// DefaultNode returns a name for this node: the host name, with every
// character CheckNode refuses (the dots of a domain, say) turned into -,
// then - and 4 random characters, so that two nodes on one host differ.
func DefaultNode() string {
	host, _ := os.Hostname()
	return nodeFromHost(host, rand.Text()[:4])
}

func nodeFromHost(host, suffix string) string {
	b := []byte(host)
	for i, c := range b {
		if !nodeChar(c) {
			b[i] = '-'
		}
	}
	host = strings.Trim(string(b), "-")
	if host == "" {
		host = "node"
	}
	host = host[:min(len(host), MaxNodeName-1-len(suffix))]
	return host + "-" + strings.ToLower(suffix)
}
