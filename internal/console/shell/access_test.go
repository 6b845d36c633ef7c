package shell

import (
	"strings"
	"testing"
)

// TestAccess: who may open, attach, type, share and close, over the
// protocol.
func TestAccess(t *testing.T) {
	_, cfg := sshHosts(t, 1)
	reg := NewRegistry(Options{Node: "n1", SSH: cfg})
	url := serve(t, reg)

	olga := dial(t, url, "olga")
	olga.send(map[string]any{"type": "open", "host": "local"})
	if m := olga.expect("error"); m["code"] != CodeDenied || !strings.Contains(m["error"].(string), "admins only") {
		t.Errorf("an operator's local terminal: %v", m)
	}
	vic := dial(t, url, "vic")
	vic.send(map[string]any{"type": "open", "host": "127.0.0.1"})
	if m := vic.expect("error"); m["code"] != CodeDenied || !strings.Contains(m["error"].(string), "viewer") {
		t.Errorf("a viewer's terminal: %v", m)
	}
	olga.send(map[string]any{"type": "open", "host": "10.1.2.3"})
	if m := olga.expect("error"); m["code"] != CodeDenied || !strings.Contains(m["error"].(string), "allow-hosts") {
		t.Errorf("a host outside the ceiling: %v", m)
	}

	ch, id := olga.open("127.0.0.1")
	olga.typeIn(ch, "echo mine-$((9*9))\n")
	olga.waitFor(ch, "mine-81")

	// vic may not watch until olga shares.
	vic.send(map[string]any{"type": "attach", "session": id})
	if m := vic.expect("error"); m["code"] != CodeDenied {
		t.Errorf("attach to an unshared session: %v", m)
	}
	vic.send(map[string]any{"type": "close", "ch": 1})
	vic.expect("error")

	// An admin may watch, read-only: its input is refused.
	adm := dial(t, url, "admin")
	adm.send(map[string]any{"type": "attach", "session": id})
	info := adm.expect("attached")["session"].(map[string]any)
	ach := byte(info["ch"].(float64))
	if info["write"] != false || info["owner"] != false {
		t.Errorf("admin watcher: %v", info)
	}
	adm.waitFor(ach, "mine-81") // the scrollback
	adm.typeIn(ach, "echo admin-typed\n")
	if m := adm.expect("error"); m["code"] != CodeDenied {
		t.Errorf("a watcher's input: %v", m)
	}

	olga.send(map[string]any{"type": "share", "ch": ch, "share": "watch"})
	olga.expect("ok")
	vic.send(map[string]any{"type": "attach", "session": id})
	vch := byte(vic.expect("attached")["session"].(map[string]any)["ch"].(float64))
	vic.typeIn(vch, "echo vic-typed\n")
	if m := vic.expect("error"); m["code"] != CodeDenied {
		t.Errorf("a read-only watcher's input: %v", m)
	}
	vic.send(map[string]any{"type": "share", "ch": vch, "share": "type"})
	if m := vic.expect("error"); m["code"] != CodeDenied {
		t.Errorf("a watcher's share: %v", m)
	}
	vic.send(map[string]any{"type": "close", "ch": vch})
	if m := vic.expect("error"); m["code"] != CodeDenied {
		t.Errorf("a watcher's close: %v", m)
	}

	// Shared to type: vic's input reaches the shell, and everyone sees it.
	olga.send(map[string]any{"type": "share", "ch": ch, "share": "type"})
	olga.expect("ok")
	vic.typeIn(vch, "echo vic-$((4*4))\n")
	olga.waitFor(ch, "vic-16")
	adm.waitFor(ach, "vic-16")
	if strings.Contains(olga.output(ch), "admin-typed") || strings.Contains(olga.output(ch), "vic-typed") {
		t.Errorf("refused input reached the shell:\n%s", olga.output(ch))
	}

	// A session of another node is named, not "not found".
	olga.send(map[string]any{"type": "attach", "session": "n2.0123456789abcdef"})
	if m := olga.expect("error"); m["code"] != CodeElsewhere || !strings.Contains(m["error"].(string), "n2") {
		t.Errorf("another node's session: %v", m)
	}

	// The admin may close it; every page is told.
	adm.send(map[string]any{"type": "close", "ch": ach})
	for _, c := range []*client{olga, vic, adm} {
		if m := c.expect("ended"); m["session"] != id || !strings.Contains(m["reason"].(string), "closed by admin") {
			t.Errorf("ended: %v", m)
		}
	}
}

// TestControlRate: control messages over the rate are refused, and the
// socket goes on.
func TestControlRate(t *testing.T) {
	reg := NewRegistry(Options{Node: "n1", ControlRate: 5, LocalShell: "/bin/sh"})
	url := serve(t, reg)
	c := dial(t, url, "admin")
	for range 30 {
		c.send(map[string]any{"type": "list"})
	}
	if m := c.expect("error"); m["code"] != CodeRateLimited {
		t.Errorf("30 lists at once with a rate of 5: %v", m)
	}
}

// TestBroadcastCap: an open names at most MaxBroadcast hosts when it asks
// for a grid (many), and one host when it does not; past that it is
// refused before any host is dialled.
func TestBroadcastCap(t *testing.T) {
	_, cfg := sshHosts(t, 1)
	reg := NewRegistry(Options{Node: "n1", SSH: cfg, MaxBroadcast: 3})
	url := serve(t, reg)
	adm := dial(t, url, "admin")
	for _, tc := range []struct {
		host string
		many bool
		want string
	}{
		{"127.0.0.1-4", true, "more than the limit of 3"},
		{"127.0.0.1-2", false, "more than the limit of 1"},
	} {
		adm.send(map[string]any{"type": "open", "host": tc.host, "many": tc.many, "cols": 80, "rows": 24})
		if m := adm.expect("error"); !strings.Contains(m["error"].(string), tc.want) {
			t.Errorf("open %s (many=%v): %v, want refused", tc.host, tc.many, m)
		}
	}
	if n := len(reg.List()); n != 0 {
		t.Errorf("%d sessions after refused opens", n)
	}
}
