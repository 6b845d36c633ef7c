package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// A browser opens the login URL once; the token becomes a session cookie
// and the browser lands on the same URL without it.
func ExampleGuard_Middleware() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "wsdeck-example")
	defer os.RemoveAll(dir)
	eng, err := engine.Open(ctx, engine.Config{StateDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer eng.Shutdown(ctx)
	bucket, err := eng.Bucket(ctx, engine.BucketConfig{Name: "sessions", TTL: auth.DefaultMax})
	if err != nil {
		fmt.Println(err)
		return
	}
	g, _ := auth.New("s3cret", auth.Options{CookieName: "wsdeck-8080", Store: auth.NewKVStore(bucket, 0)})
	h := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "the console")
	}), nil)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/?token=s3cret", nil))
	cookie := rec.Result().Cookies()[0]
	fmt.Println(rec.Code, rec.Header().Get("Location"), cookie.Name, cookie.HttpOnly, cookie.SameSite == http.SameSiteStrictMode)

	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(cookie)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body)

	req = httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code)
	// Output:
	// 303 / wsdeck-8080 true true
	// 200 the console
	// 200
	// 401
}
