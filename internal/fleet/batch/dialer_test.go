package batch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// TestDialerSharesOneLoad: one Dialer connects to several hosts with the
// keys and known_hosts it read once (DialConn's bare connection runs a
// command on a channel of its own; Dial's Client runs one on a session),
// refuses a host its known_hosts does not trust, and reports a change of
// known_hosts, which a new Dialer then sees.
func TestDialerSharesOneLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	d, err := NewDialer(e.config)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Changed() {
		t.Fatal("Changed right after loading")
	}

	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		c, err := d.DialConn(t.Context(), hostexpr.Host{Name: ip})
		if err != nil {
			t.Fatalf("DialConn %s: %v", ip, err)
		}
		go ssh.DiscardRequests(c.Reqs)
		ch, reqs, err := c.OpenChannel("session", nil)
		if err != nil {
			t.Fatal(err)
		}
		go ssh.DiscardRequests(reqs)
		ok, err := ch.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{wrapCommand("hostname", time.Second)}))
		if !ok || err != nil {
			t.Fatalf("exec on %s: %v %v", ip, ok, err)
		}
		out, err := io.ReadAll(ch)
		if err != nil || strings.TrimSpace(string(out)) != ip {
			t.Errorf("%s: hostname said %q, %v", ip, out, err)
		}
		c.Close()
	}

	cl, err := d.Dial(t.Context(), hostexpr.Host{Name: "127.0.0.3"})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	sess, err := cl.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output(wrapCommand("echo hi", time.Second))
	if err != nil || strings.TrimSpace(string(out)) != "hi" {
		t.Errorf("echo said %q, %v", out, err)
	}
	cl.Close()

	// known_hosts now trusts another key only: this Dialer still holds
	// the old file, Changed says so, and a new Dialer refuses the host.
	other, _ := sshtest.NewKey(t)
	e.writeKnownHosts(t, sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", e.srv.port), other.PublicKey()))
	// The same size: the modification time tells, set apart from the
	// first write's whatever the file system's clock granularity.
	if err := os.Chtimes(e.known, time.Time{}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !d.Changed() {
		t.Fatal("Changed is false after known_hosts was rewritten")
	}
	d2, err := NewDialer(e.config)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	_, err = d2.DialConn(t.Context(), hostexpr.Host{Name: "127.0.0.1"})
	var de *DialError
	if !errors.As(err, &de) || de.Status != StatusHostKeyChanged {
		t.Fatalf("a new Dialer dialled a host with another key: %v", err)
	}
}
