package oidcop

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is an account of the provider.
type User struct {
	ID       string // the subject; "" means Name
	Name     string // preferred_username, and what the login form takes
	Password string
	Email    string
	Groups   []string
}

// Client is a relying party registered at the provider: a confidential
// web client (client_secret_basic or _post) whose redirect URIs may be
// path.Match globs ("http://127.0.0.1:*/login/oidc/callback").
type Client struct {
	ID, Secret   string
	RedirectURIs []string
}

// Options configure a Provider.
type Options struct {
	Users   []User
	Clients []Client
	// Addr is where to listen; "" means 127.0.0.1 on a free port.
	Addr string
	// Host names the provider in its issuer URL instead of the address
	// it listens on: "localhost" makes it another site than a client on
	// 127.0.0.1, as a real provider is (cross-site redirects, SameSite).
	Host string
	// Wrap, if set, wraps the provider's handler (the whole site).
	Wrap func(http.Handler) http.Handler
	// Logger receives the provider's logs; nil discards them.
	Logger *slog.Logger
}

// Provider is a running OpenID provider. Close stops it.
type Provider struct {
	// Issuer is the provider's issuer URL: http://127.0.0.1:PORT.
	Issuer string

	srv   *http.Server
	store *store
	done  chan struct{}
}

// Start starts a provider with opts and returns once it listens.
func Start(opts Options) (*Provider, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("oidcop: %w", err)
	}
	issuer := "http://" + ln.Addr().String()
	if opts.Host != "" {
		issuer = "http://" + net.JoinHostPort(opts.Host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	us := &userStore{byID: map[string]*storage.User{}, byName: map[string]*storage.User{}, groups: map[string][]string{}}
	for _, u := range opts.Users {
		id := u.ID
		if id == "" {
			id = u.Name
		}
		su := &storage.User{ID: id, Username: u.Name, Password: u.Password, FirstName: u.Name, Email: u.Email, EmailVerified: u.Email != ""}
		us.byID[id], us.byName[u.Name], us.groups[id] = su, su, slices.Clone(u.Groups)
	}
	st := &store{Storage: storage.NewStorageWithClients(us, map[string]*storage.Client{}), users: us, clients: map[string]clientEntry{}}
	for _, c := range opts.Clients {
		st.AddClient(c)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var key [32]byte
	rand.Read(key[:])
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:      key,
		CryptoKeyId:    "oidcop",
		CodeMethodS256: true,
		AuthMethodPost: true,
	}, st, op.StaticIssuer(issuer), op.WithAllowInsecure(), op.WithLogger(logger))
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("oidcop: %w", err)
	}
	mux := http.NewServeMux()
	lp := &loginPage{auth: st.Storage, callback: op.AuthCallbackURL(provider)}
	mux.Handle("/login/username", op.NewIssuerInterceptor(provider.IssuerFromRequest).Handler(lp))
	mux.Handle("/", provider)
	var h http.Handler = mux
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	p := &Provider{Issuer: issuer, store: st, done: make(chan struct{}),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}}
	go func() {
		defer close(p.done)
		p.srv.Serve(ln)
	}()
	return p, nil
}

// AddClient registers c, or replaces the client with its id. It may be
// called while the provider runs (to register a console whose port is
// known only once it listens).
func (p *Provider) AddClient(c Client) { p.store.AddClient(c) }

// Close stops the provider and waits for it.
func (p *Provider) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	<-p.done
	return err
}

// loginPage is the provider's login UI: a form of user name and password
// for an auth request, which, once they are right, sends the browser on
// to the provider's callback (and so to the client, with a code).
type loginPage struct {
	auth interface {
		CheckUsernamePassword(user, password, id string) error
	}
	callback func(context.Context, string) string
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test identity provider: sign in</title></head>
<body><h1>Test identity provider</h1>
{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
<form method="post" action="/login/username">
<input type="hidden" name="id" value="{{.ID}}">
<label>User <input id="username" name="username" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="submit" type="submit">Sign in</button>
</form></body></html>
`))

func (l *loginPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "oidcop: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	switch r.Method {
	case http.MethodGet:
		loginTmpl.Execute(w, struct{ ID, Error string }{r.FormValue("authRequestID"), ""})
	case http.MethodPost:
		id := r.FormValue("id")
		if err := l.auth.CheckUsernamePassword(r.FormValue("username"), r.FormValue("password"), id); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			loginTmpl.Execute(w, struct{ ID, Error string }{id, "Wrong user name or password."})
			return
		}
		http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
	default:
		http.Error(w, "oidcop: method not allowed", http.StatusMethodNotAllowed)
	}
}

// userStore is the example storage's UserStore, with groups.
type userStore struct {
	byID, byName map[string]*storage.User
	groups       map[string][]string // by user id
}

func (u *userStore) GetUserByID(id string) *storage.User         { return u.byID[id] }
func (u *userStore) GetUserByUsername(name string) *storage.User { return u.byName[name] }
func (u *userStore) ExampleClientID() string                     { return "service" }

// store is the example's in-memory storage with this package's clients
// and the groups claim.
type store struct {
	*storage.Storage
	users *userStore

	mu      sync.Mutex
	clients map[string]clientEntry // guarded by mu
}

type clientEntry struct {
	client op.Client
	secret string
}

func (s *store) AddClient(c Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = clientEntry{client: webClient{Client: storage.WebClient(c.ID, c.Secret, c.RedirectURIs...), globs: c.RedirectURIs}, secret: c.Secret}
}

func (s *store) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, errors.New("client not found")
	}
	return c.client, nil
}

func (s *store) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok || c.secret != secret {
		return errors.New("invalid client id or secret")
	}
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims: the example's, and
// the groups for the "groups" scope.
func (s *store) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	if slices.Contains(scopes, "groups") {
		ui.AppendClaims("groups", s.users.groups[req.GetSubject()])
	}
	return nil
}

// SetUserinfoFromToken fills the userinfo endpoint's answer, with the
// groups.
func (s *store) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	ui.AppendClaims("groups", s.users.groups[subject])
	return nil
}

// webClient is the example's web client whose ID token carries the
// userinfo claims and whose redirect URIs may be globs.
type webClient struct {
	*storage.Client
	globs []string
}

func (webClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (webClient) IsScopeAllowed(scope string) bool     { return scope == "groups" }
func (c webClient) RedirectURIGlobs() []string         { return c.globs }
func (webClient) PostLogoutRedirectURIGlobs() []string { return nil }
