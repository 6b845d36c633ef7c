package server

import (
	"net/http"
	"net/http/cookiejar"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/chat"
	"github.com/wsdeck/wsdeck/internal/console/monitor"
	"github.com/wsdeck/wsdeck/internal/testkit/selfsigned"
)

func chatOptions(maxText int) chat.Options { return chat.Options{MaxText: maxText} }

func monitorOptions(interval time.Duration) monitor.Options {
	return monitor.Options{Interval: interval}
}

func newJar() http.CookieJar {
	jar, err := cookiejar.New(nil)
	if err != nil {
		panic(err)
	}
	return jar
}

// selfSigned is the test kit's: the TLS certificate of a test server.
var selfSigned = selfsigned.Cert
