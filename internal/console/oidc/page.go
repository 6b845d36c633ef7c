package oidc

import (
	"html/template"
	"net/http"
)

// pageTmpl is the one page the handlers show: a refusal, with a way back
// to the login page, or the step into the console after a login.
var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
{{if .Next}}<meta http-equiv="refresh" content="0;url={{.Next}}">{{end}}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wsdeck: {{.Title}}</title>
<style>body{font:16px system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}
h1{font-size:1.3em}p.why{background:#fdecea;border-left:4px solid #c62828;padding:.6em .8em}</style>
</head><body>
<h1 id="title">{{.Title}}</h1>
{{if .Why}}<p class="why" id="why">{{.Why}}</p>{{end}}
{{if .Next}}<p><a id="next" href="{{.Next}}">Continue to the console</a></p>
{{else}}<p><a id="again" href="{{.Again}}">Back to the login page</a></p>{{end}}
</body></html>
`))

type page struct {
	Title string
	Why   string
	Next  string // the console, after a login
	Again string // the login page, after a refusal
}

// render writes p with status.
func render(w http.ResponseWriter, status int, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	// No script, no form, no frame; the style is the page's own.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	pageTmpl.Execute(w, p)
}
