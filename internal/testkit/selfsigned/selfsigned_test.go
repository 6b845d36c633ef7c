package selfsigned

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

// TestCert checks that the files make a key pair and that the pool trusts
// the certificate for 127.0.0.1, and for no other name.
func TestCert(t *testing.T) {
	certFile, keyFile, pool := Cert(t)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("verify for 127.0.0.1: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "example.com"}); err == nil {
		t.Error("the certificate verifies for example.com")
	}
}
