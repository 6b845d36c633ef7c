// Package web is the console's page: one HTML file, plain JavaScript
// modules and CSS, and the front-end libraries it uses (ECharts, xterm.js),
// all embedded, so the page works with no internet.
//
// The libraries are copied from node_modules by vendor.sh, as vendor.txt
// lists them, and committed under static/vendor with their licences; a
// test checks that they are byte for byte what package-lock.json installs.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// FS returns the page's files.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded directory is there
	}
	return sub
}

// ContentSecurityPolicy lets the page load only its own files and connect
// only to its own origin (its WebSockets included). Styles may be inline:
// ECharts and xterm.js set them from script.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Handler serves the page (at /) and its files, /favicon.ico among them.
// Each file has an ETag (a hash of its content), so a browser revalidates
// instead of downloading it again. A directory is not a page: /js/ and
// /vendor/ are 404, never a listing.
func Handler() http.Handler {
	files := FS()
	etags := map[string]string{}
	dirs := map[string]bool{}
	fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs["/"+p] = true
			return nil
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		etags["/"+p] = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		return nil
	})
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := path.Clean(r.URL.Path)
		if name != "/" && (dirs[name] || strings.HasSuffix(r.URL.Path, "/")) {
			http.NotFound(w, r)
			return
		}
		if name == "/" {
			name = "/index.html"
		}
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("Cache-Control", "no-cache")
		if etag, ok := etags[name]; ok {
			h.Set("ETag", etag)
		}
		if name == "/favicon.ico" {
			h.Set("Content-Type", "image/x-icon") // not in Go's table of types
		}
		fileServer.ServeHTTP(w, r)
	})
}
