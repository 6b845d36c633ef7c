package oidc

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/users"
)

// Defaults for Config.
const (
	DefaultGroupsClaim      = "groups"
	DefaultFlowTimeout      = 10 * time.Minute
	DefaultDiscoveryTimeout = 10 * time.Second
	DefaultRetryInterval    = 5 * time.Second
	// DefaultHTTPTimeout bounds each request to the provider (discovery,
	// keys, the code's exchange).
	DefaultHTTPTimeout = 30 * time.Second
	// LoginPath and CallbackPath are where the server routes Login and
	// Callback.
	LoginPath    = "/login/oidc"
	CallbackPath = "/login/oidc/callback"
	// DefaultLoginPage is the console's login page (auth's LoginPath).
	DefaultLoginPage = "/login"
)

// DefaultScopes are the scopes asked for: the ID token, the user's names
// and e-mail, and their groups (a scope many providers need before they
// put a groups claim in the token).
var DefaultScopes = []string{gooidc.ScopeOpenID, "profile", "email", "groups"}

// Auditor stores audit records (an *audit.Log).
type Auditor interface {
	Write(ctx context.Context, rec audit.Record) (uint64, error)
}

// Config configures an RP. Issuer, ClientID, RedirectURL, Role and
// StartSession are required; the zero value of the rest means the
// defaults.
type Config struct {
	// Issuer is the provider's issuer URL, as its discovery document
	// states it (https://accounts.example.com).
	Issuer string
	// ClientID and ClientSecret are the console's registration at the
	// provider; the secret may be empty for a public client (PKCE then
	// stands alone). The secret is never logged.
	ClientID, ClientSecret string
	// RedirectURL is the absolute URL of the callback as the browser
	// reaches it (http://127.0.0.1:8080/login/oidc/callback), registered
	// at the provider.
	RedirectURL string
	// Scopes are asked for; nil means DefaultScopes. "openid" is added
	// if missing.
	Scopes []string
	// GroupsClaim names the ID token's claim with the user's groups; ""
	// means DefaultGroupsClaim. MaxGroups bounds how many are taken (a
	// token with more is refused); 0 means DefaultMaxGroups.
	GroupsClaim string
	MaxGroups   int

	// Role returns the role of a user with groups (the policy's
	// bindings). A role that is not Valid refuses the login.
	Role func(user string, groups []string) (users.Role, error)
	// StartSession logs the browser in (auth.Guard.StartSession).
	StartSession func(w http.ResponseWriter, r *http.Request, id auth.Identity) error
	// Audit, if set, receives a record of each login and refused login.
	Audit Auditor
	// Client names the audit records' client ("web" and the address is
	// added); "" means "web".
	Client string

	// Key seals the flow cookie; every node of a console must have the
	// same (at least 16 bytes). nil means one derived from ClientSecret
	// (which every node has), or a random one for a public client, with
	// which a login must end on the node where it began.
	Key []byte
	// CookieName names the flow cookie; "" means "wsdeck-oidc". Secure
	// marks it Secure (under TLS), with the __Secure- prefix.
	CookieName string
	Secure     bool
	// Home is where a logged-in browser goes; "" means "/". LoginPage
	// is where a refused one is sent back to; "" means DefaultLoginPage.
	Home, LoginPage string
	// FlowTimeout is how long a login may take at the provider; 0 means
	// DefaultFlowTimeout.
	FlowTimeout time.Duration
	// DiscoveryTimeout bounds one fetch of the discovery document, and
	// RetryInterval spaces the fetches after one failed; 0 means
	// DefaultDiscoveryTimeout and DefaultRetryInterval.
	DiscoveryTimeout, RetryInterval time.Duration
	// HTTPClient talks to the provider; nil means one whose requests
	// time out after DefaultHTTPTimeout.
	HTTPClient *http.Client
	// Logger receives the logs; nil means slog.Default.
	Logger *slog.Logger
	// Now is the clock (of the flow cookie and the ID token's expiry);
	// nil means time.Now.
	Now func() time.Time
}

// RP is the relying party: the two handlers of the login. It is safe for
// concurrent use.
type RP struct {
	cfg    Config
	seal   *sealer
	log    *slog.Logger
	client *http.Client

	mu       sync.Mutex // held across a discovery, so one runs at a time
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	oauth    *oauth2.Config
	lastTry  time.Time // guarded by mu: when discovery last failed
	lastErr  error     // guarded by mu: why
}

// New returns an RP for cfg. It checks cfg and does not reach the
// provider: call Discover.
func New(cfg Config) (*RP, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("oidc: no issuer URL (--oidc-issuer)")
	case cfg.ClientID == "":
		return nil, errors.New("oidc: no client id (--oidc-client-id)")
	case cfg.Role == nil || cfg.StartSession == nil:
		return nil, errors.New("oidc: no role function or session starter")
	}
	if u, err := url.Parse(cfg.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("oidc: the issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if u, err := url.Parse(cfg.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("oidc: the redirect URL %q is not an absolute http(s) URL", cfg.RedirectURL)
	}
	if cfg.MaxGroups < 0 || cfg.FlowTimeout < 0 || cfg.DiscoveryTimeout < 0 || cfg.RetryInterval < 0 {
		return nil, errors.New("oidc: a negative limit")
	}
	if cfg.Scopes == nil {
		cfg.Scopes = DefaultScopes
	}
	hasOpenID := false
	for _, s := range cfg.Scopes {
		hasOpenID = hasOpenID || s == gooidc.ScopeOpenID
	}
	if !hasOpenID {
		cfg.Scopes = append([]string{gooidc.ScopeOpenID}, cfg.Scopes...)
	}
	cfg.GroupsClaim = cmpOr(cfg.GroupsClaim, DefaultGroupsClaim)
	if cfg.MaxGroups == 0 {
		cfg.MaxGroups = DefaultMaxGroups
	}
	cfg.Client = cmpOr(cfg.Client, "web")
	cfg.CookieName = cmpOr(cfg.CookieName, "wsdeck-oidc")
	if cfg.Secure {
		cfg.CookieName = "__Secure-" + cfg.CookieName
	}
	cfg.Home = cmpOr(cfg.Home, "/")
	cfg.LoginPage = cmpOr(cfg.LoginPage, DefaultLoginPage)
	cfg.FlowTimeout = cmpOr(cfg.FlowTimeout, DefaultFlowTimeout)
	cfg.DiscoveryTimeout = cmpOr(cfg.DiscoveryTimeout, DefaultDiscoveryTimeout)
	cfg.RetryInterval = cmpOr(cfg.RetryInterval, DefaultRetryInterval)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key := cfg.Key
	if key == nil && cfg.ClientSecret != "" {
		key = []byte("wsdeck oidc " + cfg.Issuer + " " + cfg.ClientID + " " + cfg.ClientSecret)
	}
	if key == nil {
		key = make([]byte, 32)
		rand.Read(key)
	}
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	rp := &RP{cfg: cfg, seal: seal, log: cfg.Logger, client: cfg.HTTPClient}
	if rp.log == nil {
		rp.log = slog.Default()
	}
	if rp.client == nil {
		rp.client = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	return rp, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Issuer returns the provider's issuer URL.
func (rp *RP) Issuer() string { return rp.cfg.Issuer }

// GroupsClaim returns the name of the claim the groups are read from.
func (rp *RP) GroupsClaim() string { return rp.cfg.GroupsClaim }

// Discover fetches the provider's discovery document, if it has not been
// fetched yet, within Config.DiscoveryTimeout (or ctx, whichever ends
// first). The error names the issuer. After a failure, Login calls it
// again, no more often than Config.RetryInterval.
func (rp *RP) Discover(ctx context.Context) error {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.discoverLocked(ctx)
}

func (rp *RP) discoverLocked(ctx context.Context) error {
	if rp.provider != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, rp.cfg.DiscoveryTimeout)
	defer cancel()
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, rp.client), rp.cfg.Issuer)
	if err != nil {
		rp.lastTry, rp.lastErr = rp.cfg.Now(), fmt.Errorf("oidc: discovery of the provider %s: %w", rp.cfg.Issuer, err)
		return rp.lastErr
	}
	rp.provider = p
	rp.verifier = p.Verifier(&gooidc.Config{ClientID: rp.cfg.ClientID, Now: rp.cfg.Now})
	rp.oauth = &oauth2.Config{
		ClientID:     rp.cfg.ClientID,
		ClientSecret: rp.cfg.ClientSecret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  rp.cfg.RedirectURL,
		Scopes:       rp.cfg.Scopes,
	}
	rp.lastErr = nil
	return nil
}

// ready returns the discovered provider's parts, discovering it again if
// the last failure is older than Config.RetryInterval.
func (rp *RP) ready(ctx context.Context) (*oauth2.Config, *gooidc.IDTokenVerifier, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.provider == nil && rp.lastErr != nil && rp.cfg.Now().Sub(rp.lastTry) < rp.cfg.RetryInterval {
		return nil, nil, rp.lastErr
	}
	if err := rp.discoverLocked(ctx); err != nil {
		return nil, nil, err
	}
	return rp.oauth, rp.verifier, nil
}

// Login returns the handler of GET /login/oidc: it starts a login and
// redirects the browser to the provider (302), or shows a page saying why
// it cannot (502 when the provider is unreachable).
func (rp *RP) Login() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		oc, _, err := rp.ready(r.Context())
		if err != nil {
			rp.log.Warn("oidc login: provider unavailable", "issuer", rp.cfg.Issuer, "err", err)
			rp.refuse(w, r, http.StatusBadGateway, "The single sign-on provider cannot be reached",
				fmt.Sprintf("The console could not reach the identity provider %s. Try again in a moment, or sign in with a password.", rp.cfg.Issuer))
			return
		}
		f := flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Expires: rp.cfg.Now().Add(rp.cfg.FlowTimeout)}
		sealed, err := rp.seal.seal(f)
		if err != nil {
			rp.refuse(w, r, http.StatusInternalServerError, "Single sign-on failed", "The login could not be started: "+err.Error())
			return
		}
		http.SetCookie(w, rp.flowCookie(sealed, int(rp.cfg.FlowTimeout/time.Second)))
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, oc.AuthCodeURL(f.State, oauth2.S256ChallengeOption(f.Verifier), gooidc.Nonce(f.Nonce)), http.StatusFound)
	})
}

// flowCookie returns the flow cookie with value, or one that deletes it
// for maxAge < 0.
func (rp *RP) flowCookie(value string, maxAge int) *http.Cookie {
	path := CallbackPath
	if u, err := url.Parse(rp.cfg.RedirectURL); err == nil && u.Path != "" {
		path = u.Path
	}
	return &http.Cookie{
		Name:     rp.cfg.CookieName,
		Value:    value,
		Path:     path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   rp.cfg.Secure,
		// Lax, not Strict: the provider's redirect back is a cross-site
		// top-level GET, which carries Lax cookies only.
		SameSite: http.SameSiteLaxMode,
	}
}

// Callback returns the handler of GET /login/oidc/callback: it finishes
// the login that Login began in this browser and shows a page that moves
// on to the console, or refuses it with a page that says why (400 for a
// broken or foreign flow, 401 for a refusal by the provider or a token
// that does not verify, 403 for a user without a role, 502 when the
// provider cannot be reached).
func (rp *RP) Callback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Whatever happens, this flow is over.
		http.SetCookie(w, rp.flowCookie("", -1))
		id, status, why, err := rp.finish(r)
		if err != nil {
			rp.log.Info("oidc login refused", "issuer", rp.cfg.Issuer, "user", id.User, "remote", r.RemoteAddr, "err", err)
			rp.audit(r, audit.Record{Event: audit.EventLoginFailed, User: id.User, Role: roleText(id.Role), Reason: err.Error()})
			rp.refuse(w, r, status, "Single sign-on refused", why)
			return
		}
		if err := rp.cfg.StartSession(w, r, id); err != nil {
			rp.log.Error("oidc login: the session could not be stored", "user", id.User, "err", err)
			rp.audit(r, audit.Record{Event: audit.EventLoginFailed, User: id.User, Role: roleText(id.Role), Reason: "session store: " + err.Error()})
			rp.refuse(w, r, http.StatusServiceUnavailable, "Single sign-on failed", "You were signed in at the provider, but the console could not store your session. Try again in a moment.")
			return
		}
		rp.log.Info("oidc login", "user", id.User, "role", id.Role.String(), "groups", id.Groups, "remote", r.RemoteAddr)
		rp.audit(r, audit.Record{Event: audit.EventLogin, User: id.User, Role: roleText(id.Role)})
		render(w, http.StatusOK, page{Title: "Signed in as " + id.User, Next: rp.cfg.Home})
	})
}

// finish checks the callback r and returns the identity it logs in, or
// the HTTP status, a sentence for the person and the error for the logs
// and the audit (id.User is set once known).
func (rp *RP) finish(r *http.Request) (id auth.Identity, status int, why string, err error) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		desc := q.Get("error_description")
		msg := "The identity provider refused the login: " + e
		if desc != "" {
			msg += " (" + desc + ")"
		}
		return id, http.StatusUnauthorized, msg + ".", fmt.Errorf("the provider answered %s: %q", e, desc)
	}
	c, cerr := r.Cookie(rp.cfg.CookieName)
	if cerr != nil {
		return id, http.StatusBadRequest, "No single sign-on was started in this browser (or it took too long). Start again from the login page.",
			fmt.Errorf("%w (no flow cookie)", errFlow)
	}
	f, err := rp.seal.open(c.Value, rp.cfg.Now())
	if err != nil {
		return id, http.StatusBadRequest, "This sign-on cannot be finished: " + err.Error() + ". Start again from the login page.", err
	}
	if q.Get("state") == "" || q.Get("state") != f.State {
		return id, http.StatusBadRequest, "This sign-on was not started by this browser (its state does not match). Start again from the login page.",
			errors.New("the state does not match the flow's")
	}
	code := q.Get("code")
	if code == "" {
		return id, http.StatusBadRequest, "The identity provider sent no code. Start again from the login page.", errors.New("no code")
	}
	oc, verifier, err := rp.ready(r.Context())
	if err != nil {
		return id, http.StatusBadGateway, fmt.Sprintf("The console could not reach the identity provider %s. Try again in a moment.", rp.cfg.Issuer), err
	}
	ctx := gooidc.ClientContext(r.Context(), rp.client)
	tok, err := oc.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			code := re.ErrorCode
			if code == "" && re.Response != nil {
				code = re.Response.Status
			}
			return id, http.StatusUnauthorized, "The identity provider refused the code (" + code + "). Start again from the login page.",
				fmt.Errorf("the code's exchange: %w", err)
		}
		return id, http.StatusBadGateway, fmt.Sprintf("The console could not reach the identity provider %s. Try again in a moment.", rp.cfg.Issuer),
			fmt.Errorf("the code's exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return id, http.StatusUnauthorized, "The identity provider sent no ID token.", errors.New("no id_token in the token response")
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return id, http.StatusUnauthorized, "The identity provider's ID token does not verify: " + err.Error() + ".", fmt.Errorf("the ID token: %w", err)
	}
	if idt.Nonce != f.Nonce {
		return id, http.StatusUnauthorized, "The identity provider's ID token was not issued for this sign-on (its nonce does not match).",
			errors.New("the ID token's nonce does not match the flow's")
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return id, http.StatusUnauthorized, "The ID token's claims cannot be read.", fmt.Errorf("the ID token's claims: %w", err)
	}
	if err := authorizedParty(claims, idt.Audience, rp.cfg.ClientID); err != nil {
		return id, http.StatusUnauthorized, "The identity provider's ID token was not issued for this console.", err
	}
	w, err := readClaims(claims, rp.cfg.GroupsClaim, rp.cfg.MaxGroups)
	if err != nil {
		return id, http.StatusUnauthorized, "The ID token cannot be used: " + err.Error() + ".", err
	}
	id = auth.Identity{User: w.User, Method: auth.MethodOIDC, Groups: w.Groups}
	role, err := rp.cfg.Role(w.User, w.Groups)
	if err != nil {
		return id, http.StatusInternalServerError, "Your role could not be found: " + err.Error() + ".", fmt.Errorf("role: %w", err)
	}
	if !role.Valid() {
		groups := "none"
		if len(w.Groups) > 0 {
			groups = strings.Join(w.Groups, ", ")
		}
		return id, http.StatusForbidden,
			fmt.Sprintf("You are signed in at the identity provider as %s, but this console gives you no role (your groups: %s). Ask an admin to bind your user or one of your groups to a role in the policy.", w.User, groups),
			errors.New("no role for this user or their groups")
	}
	id.Role = role
	return id, 0, "", nil
}

// refuse shows a refusal with a link back to the login page.
func (rp *RP) refuse(w http.ResponseWriter, r *http.Request, status int, title, why string) {
	render(w, status, page{Title: title, Why: why, Again: rp.cfg.LoginPage})
}

// audit writes rec, completed with how and from where, if there is an
// Auditor. A failure is logged: the login has happened, or was refused,
// whether or not its record is kept.
func (rp *RP) audit(r *http.Request, rec audit.Record) {
	if rp.cfg.Audit == nil {
		return
	}
	rec.Method = auth.MethodOIDC
	rec.Client = rp.cfg.Client + " " + r.RemoteAddr
	rec.RemoteAddr = r.RemoteAddr
	rec.UserAgent = r.UserAgent()
	if _, err := rp.cfg.Audit.Write(context.WithoutCancel(r.Context()), rec); err != nil {
		rp.log.Error("oidc: audit record not stored", "event", rec.Event, "user", rec.User, "err", err)
	}
}

func roleText(r users.Role) string {
	if !r.Valid() {
		return ""
	}
	return r.String()
}
