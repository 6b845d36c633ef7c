package shell

import (
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// TestOpenSSH drives terminals over the real sshd through /ws/shell, as a
// page does.
func TestOpenSSH(t *testing.T) {
	srv, cfg := sshHosts(t, 10)
	reg := NewRegistry(Options{Node: "n1", SSH: cfg})
	url := serve(t, reg)

	t.Run("a PTY that follows resizes", func(t *testing.T) {
		c := dial(t, url, "admin")
		ch, _ := c.open("127.0.0.1")
		c.typeIn(ch, "tty; echo t-$TERM\n")
		c.waitFor(ch, "/dev/pts/")
		c.waitFor(ch, "t-xterm-256color")
		c.typeIn(ch, "stty size\n")
		c.waitFor(ch, "24 80")
		c.send(map[string]any{"type": "resize", "ch": ch, "cols": 132, "rows": 43})
		c.typeIn(ch, "stty size\n")
		c.waitFor(ch, "43 132")
		c.typeIn(ch, "exit\n")
		c.expect("ended")
	})

	t.Run("Ctrl-C ends sleep", func(t *testing.T) {
		c := dial(t, url, "admin")
		ch, _ := c.open("127.0.0.2")
		c.typeIn(ch, "sleep 1007; echo rc-$?\n")
		sshtest.Eventually(t, 30*time.Second, "sleep 1007 to start", func() bool { return len(sshtest.ProcessesWith("sleep\x001007")) > 0 })
		c.typeIn(ch, "\x03")
		sshtest.Eventually(t, 30*time.Second, "sleep 1007 to end on Ctrl-C", func() bool { return len(sshtest.ProcessesWith("sleep\x001007")) == 0 })
		c.typeIn(ch, "echo after-$((40+2))\n")
		c.waitFor(ch, "after-42")
		c.typeIn(ch, "exit\n")
		c.expect("ended")
	})

	t.Run("exit ends the session and leaves no sshd session", func(t *testing.T) {
		c := dial(t, url, "admin")
		ch, id := c.open("127.0.0.3")
		c.typeIn(ch, "echo up-$((2*3))\n")
		c.waitFor(ch, "up-6")
		c.typeIn(ch, "exit\n")
		m := c.expect("ended")
		if m["session"] != id || !strings.HasPrefix(m["reason"].(string), "exit") {
			t.Errorf("ended message %v", m)
		}
		if reg.Get(id) != nil {
			t.Errorf("session %s still in the registry", id)
		}
		sshtest.Eventually(t, 10*time.Second, "sshd session processes left", func() bool { return len(srv.Descendants()) == 0 })
	})

	t.Run("a dropped page reattaches and sees earlier output", func(t *testing.T) {
		c := dial(t, url, "admin")
		ch, id := c.open("127.0.0.4")
		c.typeIn(ch, "echo before-$((5*5))\n")
		c.waitFor(ch, "before-25")
		c.close() // the network drops
		s := reg.Get(id)
		poll.Until(t, 10*time.Second, "the page detached", func() bool { return s.Attached() == 0 })

		c2 := dial(t, url, "admin")
		c2.send(map[string]any{"type": "attach", "session": id, "cols": 80, "rows": 24})
		m := c2.expect("attached")
		ch2 := byte(m["session"].(map[string]any)["ch"].(float64))
		c2.waitFor(ch2, "before-25") // the scrollback
		c2.typeIn(ch2, "echo again-$((6*6))\n")
		c2.waitFor(ch2, "again-36")
		c2.send(map[string]any{"type": "close", "ch": ch2})
		c2.expect("ended")
		sshtest.Eventually(t, 10*time.Second, "sshd session processes left", func() bool { return len(srv.Descendants()) == 0 })
	})

	t.Run("broadcast to 10 hosts", func(t *testing.T) {
		c := dial(t, url, "admin")
		c.send(map[string]any{"type": "open", "host": "127.0.0.1-10", "many": true, "cols": 80, "rows": 24})
		m := c.expect("opened")
		sessions := m["sessions"].([]any)
		if len(sessions) != 10 {
			t.Fatalf("opened %d sessions, want 10: %v", len(sessions), m)
		}
		var chs []byte
		hostOf := map[byte]string{}
		for _, s := range sessions {
			info := s.(map[string]any)
			ch := byte(info["ch"].(float64))
			chs = append(chs, ch)
			hostOf[ch] = info["host"].(string)
		}
		c.send(map[string]any{"type": "broadcast", "chs": chs})
		c.expect("ok")
		// Typed once (channel 0), run in every pane.
		c.typeIn(0, "set -- $SSH_CONNECTION; echo \"on-$(hostname)-at-$3\"\n")
		host, _ := hostnameOf(t)
		for _, ch := range chs {
			c.waitFor(ch, "on-"+host+"-at-"+hostOf[ch])
		}
		// A pane out of the broadcast is not typed into.
		c.send(map[string]any{"type": "broadcast", "chs": chs[1:]})
		c.expect("ok")
		c.typeIn(0, "echo only-$((7*7))\n")
		for _, ch := range chs[1:] {
			c.waitFor(ch, "only-49")
		}
		c.typeIn(chs[0], "echo alone-$((8*8))\n")
		c.waitFor(chs[0], "alone-64")
		if strings.Contains(c.output(chs[0]), "only-49") {
			t.Errorf("the pane out of the broadcast got its input")
		}
		for _, ch := range chs {
			c.typeIn(ch, "exit\n")
		}
		for range chs {
			c.expect("ended")
		}
		sshtest.Eventually(t, 10*time.Second, "sshd session processes left", func() bool { return len(srv.Descendants()) == 0 })
	})
}
