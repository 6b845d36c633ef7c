package auth

import (
	"context"
	"net/http"
	"net/url"
)

// login exchanges the token in the query for a new session, and reports
// whether the token was valid. The session the browser had, if any, ends:
// every login rotates the id.
func (g *Guard) login(w http.ResponseWriter, r *http.Request, q url.Values) bool {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	if !g.validToken(q.Get("token")) {
		unauthorized(w, r, Invalid, g.team.Load())
		return false
	}
	if err := g.StartSession(w, r, tokenIdentity); err != nil {
		storeFailed(w)
		return true // the token was right
	}
	q.Del("token")
	clean := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	if clean.Path == "" {
		clean.Path = "/"
	}
	http.Redirect(w, r, clean.RequestURI(), http.StatusSeeOther)
	return true
}

// StartSession logs the browser of r in as id: it ends the session the
// request's cookie names, if any (so every login rotates the id and a
// session id planted before the login opens nothing), stores a new session
// for id, and sets its cookie on w. The caller then answers (a redirect,
// usually). The error is the store's; no cookie is set then.
func (g *Guard) StartSession(w http.ResponseWriter, r *http.Request, id Identity) error {
	ctx := context.WithoutCancel(r.Context())
	if old, err := r.Cookie(g.cookieName); err == nil && len(old.Value) == idLen {
		g.end(ctx, keyOf(old.Value))
	}
	sid := newID()
	now := g.now()
	s := Session{Key: keyOf(sid), Created: now, Seen: now, Identity: id, Remote: r.RemoteAddr}
	s.Expires = g.expires(s)
	if err := g.store.Add(ctx, s); err != nil {
		return err
	}
	// No Max-Age: the browser drops the cookie when it closes, and the
	// server ends the session by itself (Idle, Max).
	http.SetCookie(w, &http.Cookie{
		Name:     g.cookieName,
		Value:    sid,
		Path:     "/",
		HttpOnly: true,
		Secure:   g.secure,
		SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// Logout returns the handler of POST /logout: it ends the session that
// the request's cookie names, if any, tells the browser to drop the
// cookie, and answers 204 No Content. It needs no other credentials: the
// cookie is the session it ends.
//
// A cross-origin request is refused with 403 (http.CrossOriginProtection:
// Sec-Fetch-Site, else Origin against Host). SameSite=Strict alone would
// not do: a page on another port of this host is the same site, and its
// POST would carry the cookie.
func (g *Guard) Logout() http.Handler {
	csrf := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := csrf.Check(r); err != nil {
			http.Error(w, "wsdeck: logout refused: a page of another origin cannot log you out ("+err.Error()+")", http.StatusForbidden)
			return
		}
		if c, err := r.Cookie(g.cookieName); err == nil && len(c.Value) == idLen {
			ctx := context.WithoutCancel(r.Context())
			key := keyOf(c.Value)
			s, gerr := g.store.Get(ctx, key)
			if err := g.end(ctx, key); err != nil {
				storeFailed(w)
				return
			}
			if gerr == nil && g.onLogout != nil {
				g.onLogout(r, s)
			}
		}
		http.SetCookie(w, &http.Cookie{
			Name:     g.cookieName,
			Value:    "",
			Path:     "/",
			MaxAge:   -1,
			HttpOnly: true,
			Secure:   g.secure,
			SameSite: http.SameSiteStrictMode,
		})
		w.WriteHeader(http.StatusNoContent)
	})
}
