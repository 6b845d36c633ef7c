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

// Handler serves the page and its files. Each file has an ETag (a hash of
// its content), so a browser revalidates instead of downloading it again.
func Handler() http.Handler {
	files := FS()
	etags := map[string]string{}
	fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
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
		if strings.HasSuffix(r.URL.Path, "/") {
			name = path.Join(name, "index.html")
		}
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("Cache-Control", "no-cache")
		if etag, ok := etags[name]; ok {
			h.Set("ETag", etag)
		}
		fileServer.ServeHTTP(w, r)
	})
}
