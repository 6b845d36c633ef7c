package fleetmon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// frames is a Viewer that keeps the frames it gets.
type frames struct {
	mu   sync.Mutex
	last map[string]json.RawMessage // by type
	n    int                        // ticks
}

func (fr *frames) SendOwn(b []byte) bool {
	var head struct{ Type string }
	json.Unmarshal(b, &head)
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.last == nil {
		fr.last = map[string]json.RawMessage{}
	}
	fr.last[head.Type] = bytes.Clone(b)
	if head.Type == "tick" {
		fr.n++
	}
	return true
}

// tick returns the last tick and how many came.
func (fr *frames) tick(t *testing.T) (Tick, int) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	var tk Tick
	if b := fr.last["tick"]; b != nil {
		if err := json.Unmarshal(b, &tk); err != nil {
			t.Fatal(err)
		}
	}
	return tk, fr.n
}

// TestOpenSSH monitors 100 loopback hosts served by the real OpenSSH
// server: every host reports (99 with figures; the 100th, whose key
// known_hosts lacks, refused and shown as such), the CPU figure tracks a
// CPU burner started on the machine, a host whose sshd connection is cut
// goes stale then recovers, and sessions stop after the last viewer.
func TestOpenSSH(t *testing.T) {
	hostSigner, hostPEM := sshtest.NewKey(t)
	key, keyPEM := sshtest.NewKey(t)
	srv := sshtest.StartOpenSSH(t, 100, hostPEM, string(ssh.MarshalAuthorizedKey(key.PublicKey())))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "id_ed25519"), keyPEM, 0o600)
	known := filepath.Join(dir, "known_hosts")
	// 127.0.0.1 to 99 are known; 127.0.0.100 is not.
	os.WriteFile(known, []byte(
		sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.?]:%d", srv.Port), hostSigner.PublicKey())+
			sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.??]:%d", srv.Port), hostSigner.PublicKey())), 0o600)

	e := enginetest.Embedded(t)
	f, err := New(t.Context(), e, Options{
		Node: "n1", Beat: 200 * time.Millisecond, Linger: 500 * time.Millisecond,
		Stale: 2500 * time.Millisecond, Down: 20 * time.Second,
		RetryMin: 3 * time.Second, RetryMax: 6 * time.Second,
		SSH: batch.Config{Port: srv.Port, SSHDir: dir, AgentSocket: batch.None, SSHConfig: batch.None,
			KnownHosts: []string{known}, ConnectTimeout: 30 * time.Second, Policy: batch.DefaultPolicy()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := f.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}()

	hosts, err := hostexpr.Parse("127.0.0.1-100", nil)
	if err != nil {
		t.Fatal(err)
	}
	fr := &frames{}
	start := time.Now()
	v, err := f.Watch(t.Context(), fr, hosts)
	if err != nil {
		t.Fatal(err)
	}
	var tk Tick
	poll.Until(t, 60*time.Second, "99 hosts up with CPU figures and 127.0.0.100 down", func() bool {
		tk, _ = fr.tick(t)
		if len(tk.Cells) != 100 || tk.Counts[0] != 99 || tk.Cells[99][0] != stateCode(StateDown) {
			return false
		}
		for _, c := range tk.Cells[:99] {
			if c[1] < 0 || c[2] <= 0 || c[6] <= 0 {
				return false // no rates yet
			}
		}
		return true
	})
	t.Logf("99 hosts up with figures after %v; counts %v", time.Since(start), tk.Counts)

	t.Run("unknown host key", func(t *testing.T) {
		f.mu.Lock()
		rec := f.latest[token("127.0.0.100")]
		f.mu.Unlock()
		if rec == nil || rec.State != StateDown || rec.Why != batch.StatusHostKeyUnknown.String() || !strings.Contains(rec.Err, "host key unknown") {
			t.Fatalf("127.0.0.100: %+v, want down for an unknown host key", rec)
		}
		t.Logf("127.0.0.100: %s: %s", rec.Why, rec.Err)
	})

	t.Run("a cut connection goes stale then recovers", func(t *testing.T) {
		dialled0 := f.Dialled("127.0.0.5")
		pids := sshdServing(t, srv, "127.0.0.5")
		if len(pids) == 0 {
			t.Fatal("no sshd process serves 127.0.0.5")
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		cell := func() float64 { tk, _ := fr.tick(t); return tk.Cells[4][0] }
		poll.Until(t, 20*time.Second, "127.0.0.5 stale", func() bool { return cell() == stateCode(StateStale) })
		poll.Until(t, 30*time.Second, "127.0.0.5 up again", func() bool { return cell() == stateCode(StateUp) })
		if dialled := f.Dialled("127.0.0.5"); dialled != dialled0+1 {
			t.Errorf("sessions dialled to 127.0.0.5: %d, before %d: want one reconnect", dialled, dialled0)
		}
	})

	t.Run("detail with history", func(t *testing.T) {
		h, err := f.Detail(t.Context(), v, "127.0.0.7")
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Records) < 3 {
			t.Fatalf("%d records of history", len(h.Records))
		}
		var rec Record
		json.Unmarshal(h.Records[len(h.Records)-1], &rec)
		if rec.Host != "127.0.0.7" || rec.Fig == nil || len(rec.Fig.Cores) == 0 {
			t.Errorf("last record %+v", rec)
		}
		poll.Until(t, 10*time.Second, "a tick with the detail", func() bool {
			tk, _ := fr.tick(t)
			return tk.Detail != nil && tk.Detail.Host == "127.0.0.7"
		})
	})

	var v2 *viewer
	t.Run("sessions shared", func(t *testing.T) {
		dialled0 := f.Dialled("127.0.0.3")
		fr2 := &frames{}
		var err error
		v2, err = f.Watch(t.Context(), fr2, hosts[:10])
		if err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 10*time.Second, "the second viewer's ticks", func() bool { tk, _ := fr2.tick(t); return tk.Counts[0] == 10 })
		if dialled := f.Dialled("127.0.0.3"); dialled != dialled0 {
			t.Errorf("a second viewer of a sampled host dialled %d more sessions to it", dialled-dialled0)
		}
		f.Unwatch(v)
		poll.Until(t, 20*time.Second, "sampling of the 90 hosts nobody watches stopped", func() bool { return f.Sampling() == 10 })
		fr = fr2
	})

	// With 10 hosts sampled, the machine is quiet enough for a burner
	// to show.
	t.Run("CPU tracks a burner", func(t *testing.T) {
		mean := func() float64 {
			tk, _ := fr.tick(t)
			var sum float64
			for _, c := range tk.Cells {
				sum += c[1]
			}
			return sum / float64(len(tk.Cells))
		}
		// The fleet's figure and this machine's own, over the same
		// ticks: before and while two burners keep both cores busy.
		measure := func() (fleet, local float64) {
			l0 := localCPU(t)
			_, n0 := fr.tick(t)
			poll.Until(t, 20*time.Second, "3 ticks", func() bool { _, n := fr.tick(t); return n >= n0+3 })
			return mean(), busyBetween(l0, localCPU(t))
		}
		beforeFleet, beforeLocal := measure()
		var burners []*exec.Cmd
		for range 2 {
			cmd := exec.Command("sh", "-c", "while :; do :; done")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			burners = append(burners, cmd)
		}
		defer func() {
			for _, b := range burners {
				b.Process.Kill()
				b.Wait()
			}
		}()
		duringFleet, duringLocal := measure()
		t.Logf("mean CPU of 10 hosts: %.1f%% before (this machine: %.1f%%), %.1f%% with 2 burners (this machine: %.1f%%)",
			beforeFleet, beforeLocal, duringFleet, duringLocal)
		if duringFleet < 80 {
			t.Errorf("CPU with two burners on two cores: %.1f%%", duringFleet)
		}
		if math.Abs(beforeFleet-beforeLocal) > 25 || math.Abs(duringFleet-duringLocal) > 25 {
			t.Errorf("the fleet's CPU figure does not track this machine's")
		}
	})

	t.Run("sessions end after the last viewer", func(t *testing.T) {
		f.Unwatch(v2)
		poll.Until(t, 20*time.Second, "sampling stopped", func() bool { return f.Sampling() == 0 })
		sshtest.Eventually(t, 20*time.Second, "sshd sessions left", func() bool { return len(srv.Descendants()) == 0 })
	})
}

// sshdServing returns the sshd processes holding a TCP connection to
// addr on srv's port: found through /proc/net/tcp's socket inodes.
func sshdServing(t *testing.T, srv *sshtest.OpenSSH, addr string) []int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skip("no /proc/net/tcp")
	}
	var ip [4]int
	fmt.Sscanf(addr, "%d.%d.%d.%d", &ip[0], &ip[1], &ip[2], &ip[3])
	local := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], srv.Port)
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == local && f[3] == "01" {
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	var pids []int
	for _, pid := range srv.Descendants() {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if inodes[l] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// localCPU reads this machine's cpu line: busy and total ticks.
func localCPU(t *testing.T) [2]uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Skip("no /proc/stat")
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var busy, total uint64
	for i, s := range f[1:min(len(f), 9)] {
		v, _ := strconv.ParseUint(s, 10, 64)
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return [2]uint64{busy, total}
}

func busyBetween(a, b [2]uint64) float64 {
	if b[1] <= a[1] {
		return 0
	}
	return 100 * float64(b[0]-a[0]) / float64(b[1]-a[1])
}
