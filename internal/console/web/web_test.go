package web_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/web"
)

// TestNothingFromTheNetwork: the page's own files load nothing from
// another host (no CDN): every URL in them is a path on this server.
func TestNothingFromTheNetwork(t *testing.T) {
	t.Parallel()
	ref := regexp.MustCompile(`(?:src|href)\s*=\s*["']([^"']+)|(?m:^\s*(?:import|export)\b[^;'"\n]*["']([^"']+))|url\(\s*["']?([^"')]+)|\bimport\(\s*["']([^"']+)`)
	refs := 0
	fs.WalkDir(web.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(p, "vendor/") {
			return err
		}
		b, err := fs.ReadFile(web.FS(), p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "://") {
			t.Errorf("%s mentions a URL with a scheme", p)
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			u := m[1] + m[2] + m[3] + m[4]
			refs++
			if strings.HasPrefix(u, "//") || !(strings.HasPrefix(u, "/") || strings.HasPrefix(u, ".")) {
				t.Errorf("%s loads %q: want a path on this server", p, u)
			}
		}
		return nil
	})
	// index.html's stylesheet and script, app.js's three imports, the
	// tabs' imports of socket.js and echarts: the pattern finds them.
	if refs < 8 {
		t.Errorf("found %d references: the pattern is broken", refs)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	tests := []struct {
		path, wantType string
		wantStatus     int
	}{
		{"/", "text/html", 200},
		{"/index.html", "", 301}, // FileServer's canonical redirect to /
		{"/app.css", "text/css", 200},
		{"/js/app.js", "text/javascript", 200},
		{"/vendor/echarts/echarts.esm.min.mjs", "text/javascript", 200},
		{"/vendor/xterm/xterm.css", "text/css", 200},
		{"/nope.js", "", 404},
		// Asked for on every page load.
		{"/favicon.ico", "image/x-icon", 200},
		// Directories are not pages: no listings.
		{"/js/", "", 404},
		{"/js", "", 404},
		{"/vendor/", "", 404},
		{"/vendor/xterm/", "", 404},
		{"/vendor/xterm", "", 404},
		{"/js/app.js/", "", 404},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Code != tt.wantStatus {
			t.Errorf("%s: %d, want %d", tt.path, rec.Code, tt.wantStatus)
			continue
		}
		if tt.wantStatus == 404 && strings.Contains(rec.Body.String(), "href=") {
			t.Errorf("%s: a 404 with links: %.200s", tt.path, rec.Body.String())
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.wantType) {
			t.Errorf("%s: Content-Type %q, want %s", tt.path, rec.Header().Get("Content-Type"), tt.wantType)
		}
		if tt.wantStatus == 200 {
			if rec.Header().Get("Content-Security-Policy") != web.ContentSecurityPolicy {
				t.Errorf("%s: no Content-Security-Policy", tt.path)
			}
			etag := rec.Header().Get("ETag")
			req := httptest.NewRequest("GET", tt.path, nil)
			req.Header.Set("If-None-Match", etag)
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if etag == "" || rec.Code != http.StatusNotModified {
				t.Errorf("%s: ETag %q, revalidation %d; want 304", tt.path, etag, rec.Code)
			}
		}
	}
}
