//go:build unix

package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/testkit/cluster"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

const teamToken = "team-test-token-0123456789abcdef"

// TestTeamBrowser runs two console nodes in team mode on one NATS server
// (the nats-server binary), their users added with wsdeck user add
// --nats, and drives them in headless Chromium: a password login and
// logout through the pages, and an admin revoking live sessions in the
// Sessions tab, on the admin's node and on the other one: each revoked
// page is at the login page within a second; and a login with a TOTP
// second factor.
func TestTeamBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS, two wsdeck nodes and Chromium")
	}
	chromium := testpeer.Chromium(t)
	artifacts := artifactDir(t)
	nats := cluster.StartNATS(t, 1, t.TempDir()) // its store too: a fresh one each run
	bin := buildWsdeck(t)
	userAdd(t, bin, nats.URLs(), "root", "admin", "root-password")
	userAdd(t, bin, nats.URLs(), "bob", "operator", "bob-password")
	// The key that seals second factors, the same for both nodes and
	// wsdeck user (as an operator hands every node the same file).
	key := make([]byte, users.KeySize)
	rand.Read(key)
	keyFile := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := cluster.StartNodes(t, 2, cluster.NodeOptions{
		Bin: bin, Token: teamToken, LogDir: artifacts,
		Args: []string{"--nats", nats.URLs(), "--exec=false", "--secret-key-file", keyFile},
	})
	n1, n2 := nodes[0], nodes[1]
	b := startBrowser(t, chromium, artifacts)

	t.Run("LoginLogout", func(t *testing.T) {
		// The token opens nothing in team mode.
		if code := httpGet(t, n1.Base+"/?token="+teamToken, nil); code != http.StatusUnauthorized {
			t.Errorf("the token's login URL in team mode: %d, want 401", code)
		}
		bob := b.newPage(t, "bob")
		bob.navigate(t, n1.Base+"/")
		bob.do(t, chromedp.WaitVisible("#login-user"))
		bob.poll(t, "sent to the login page", `location.pathname === "/login"`)
		bob.do(t, chromedp.SendKeys("#login-user", "bob"), chromedp.SendKeys("#login-password", "not-his-password"))
		bob.click(t, "#login-submit")
		bob.do(t, chromedp.WaitVisible("#login-error"))
		bob.poll(t, "a wrong password refused", `location.pathname === "/login" &&
			document.getElementById("login-error")?.textContent === "Wrong user name or password."`)
		bob.screenshot(t, artifacts, "team-login-refused")

		bob.passwordLogin(t, n1.Base, "bob", "bob-password")
		bob.poll(t, "bob named in the header", `document.getElementById("whoami-user").textContent === "bob" &&
			document.getElementById("whoami-role").textContent === "operator" && !document.getElementById("whoami").hidden`)
		if eval[bool](t, bob, `!document.getElementById("tab-sessions").hidden`) {
			t.Error("an operator sees the Sessions tab")
		}
		bob.screenshot(t, artifacts, "team-logged-in")
		cookie := sessionCookie(t, bob, n1.Base)

		bob.click(t, "#logout")
		bob.do(t, chromedp.WaitVisible("#login-user"))
		bob.poll(t, "at the login page after logout", `location.pathname === "/login"`)
		if code := httpGet(t, n1.Base+"/api/me", cookie); code != http.StatusUnauthorized {
			t.Errorf("bob's cookie after logout: %d, want 401", code)
		}
	})

	t.Run("RevokeAcrossNodes", func(t *testing.T) {
		// bob on each node, in two browsers; root on node 1.
		bob1, bob2 := b.newPage(t, "bob on node 1"), b.newPage(t, "bob on node 2")
		bob1.passwordLogin(t, n1.Base, "bob", "bob-password")
		bob2.passwordLogin(t, n2.Base, "bob", "bob-password")
		root := b.newPage(t, "root")
		root.passwordLogin(t, n1.Base, "root", "root-password")
		root.poll(t, "the Sessions tab shown to an admin", `!document.getElementById("tab-sessions").hidden`)
		root.click(t, "#tab-sessions")

		for _, c := range []struct {
			page *page
			node *cluster.Node
		}{{bob1, n1}, {bob2, n2}} {
			short := shortKey(sessionCookie(t, c.page, c.node.Base).Value)
			row := `#sessions-table tr[data-key="` + short + `"]`
			root.poll(t, "bob's session listed", `!!document.querySelector('`+row+`')`)
			root.screenshot(t, artifacts, "team-sessions-"+c.node.Name)
			start := time.Now()
			root.click(t, row+" button.revoke")
			c.page.waitLoginPage(t)
			took := time.Since(start)
			t.Logf("%s: revoked from node %s, at the login page %v after the click", c.page.name, n1.Name, took.Round(time.Millisecond))
			if took > time.Second {
				t.Errorf("%s: logged out %v after the revoke, want within a second", c.page.name, took)
			}
		}
		root.poll(t, "root still connected", `wsdeck.chat.channel.state === "open"`)
		if log, err := os.ReadFile(n2.Log()); err != nil || !strings.Contains(string(log), "session ended: closing its sockets") {
			t.Errorf("node %s's log does not show the revoked session's sockets closed (%v)", n2.Name, err)
		}
	})

	t.Run("SecondFactor", func(t *testing.T) { testSecondFactor(t, b, bin, nats.URLs(), keyFile, n2, artifacts) })
}

// testSecondFactor: carol, an admin, gets a TOTP second factor with
// wsdeck user totp; the login page asks her for the code after her
// password, and her authenticator's code (computed here from the
// otpauth URL the command printed) lets her in.
func testSecondFactor(t *testing.T, b *browser, bin, natsURLs, keyFile string, n *cluster.Node, artifacts string) {
	userAdd(t, bin, natsURLs, "carol", "admin", "carol-password")
	out, err := exec.Command(bin, "user", "totp", "carol", "--nats", natsURLs, "--secret-key-file", keyFile).CombinedOutput()
	if err != nil {
		t.Fatalf("wsdeck user totp carol: %v\n%s", err, out)
	}
	i := strings.Index(string(out), "otpauth://")
	if i < 0 {
		t.Fatalf("wsdeck user totp printed no otpauth URL:\n%s", out)
	}
	u, err := url.Parse(strings.TrimSpace(string(out[i:])))
	if err != nil {
		t.Fatal(err)
	}
	secret := u.Query().Get("secret")

	carol := b.newPage(t, "carol")
	carol.navigate(t, n.Base+"/login")
	carol.do(t, chromedp.WaitVisible("#login-user"), chromedp.SendKeys("#login-user", "carol"), chromedp.SendKeys("#login-password", "carol-password"))
	carol.click(t, "#login-submit")
	carol.do(t, chromedp.WaitVisible("#login-code"))
	carol.screenshot(t, artifacts, "team-second-factor")
	code, err := users.TOTPCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	carol.do(t, chromedp.SendKeys("#login-password", "carol-password"), chromedp.SendKeys("#login-code", code))
	carol.click(t, "#login-submit")
	carol.do(t, chromedp.WaitVisible("#messages"))
	carol.poll(t, "carol logged in", `window.wsdeck?.chat.channel.state === "open" &&
		document.getElementById("whoami-user").textContent === "carol"`)
}

// waitLoginPage waits until p shows the login page. It asks again when
// the page is navigating (which a chromedp poll does not survive).
func (p *page) waitLoginPage(t *testing.T) {
	t.Helper()
	poll.Until(t, stepTimeout, p.name+" at the login page", func() bool {
		ok, err := chromedp.Run(p.step(t), chromedp.Evaluate[bool](`location.pathname === "/login" && !!document.getElementById("login-user")`))
		return err == nil && ok
	})
}

// userAdd runs wsdeck user add against the NATS deployment at urls.
func userAdd(t *testing.T, bin, urls, name, role, password string) {
	t.Helper()
	cmd := exec.Command(bin, "user", "add", name, "--role", role, "--password-stdin", "--nats", urls)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wsdeck user add %s: %v\n%s", name, err, out)
	}
}

// passwordLogin logs in through the console's login page, and waits for
// the chat to connect.
func (p *page) passwordLogin(t *testing.T, base, user, password string) {
	t.Helper()
	p.navigate(t, base+"/login")
	p.do(t, chromedp.WaitVisible("#login-user"), chromedp.SendKeys("#login-user", user), chromedp.SendKeys("#login-password", password))
	p.click(t, "#login-submit")
	p.do(t, chromedp.WaitVisible("#messages"))
	p.poll(t, "chat connected", `window.wsdeck?.chat.channel.state === "open" && wsdeck.chat.epoch !== ""`)
}

// sessionCookie returns the page's session cookie for base.
func sessionCookie(t *testing.T, p *page, base string) *http.Cookie {
	t.Helper()
	res, err := chromedp.Call(p.step(t), network.GetCookies, network.GetCookiesParams{URLs: []string{base}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if strings.HasPrefix(c.Name, "wsdeck") {
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	t.Fatalf("%s: no session cookie for %s", p.name, base)
	return nil
}

// shortKey is the short key the Sessions tab shows for a session id: the
// start of the id's SHA-256 in base64url (auth.Session.ShortKey).
func shortKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:8]
}

// httpGet returns the status of a GET of url with cookie.
func httpGet(t *testing.T, url string, cookie *http.Cookie) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
