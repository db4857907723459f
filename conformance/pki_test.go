package conformance

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCAIssue(t *testing.T) {
	ca, err := NewCA()
	must(t, err)
	check(t, ca.Cert().IsCA, "CA cert is a CA")

	cert, err := ca.Issue("ap.test", "127.0.0.1", "::1")
	must(t, err)
	leaf := cert.Leaf
	eq(t, leaf.DNSNames, []string{"ap.test"})
	eq(t, len(leaf.IPAddresses), 2)
	check(t, leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")), "IP SAN")
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	check(t, ok && pub.Curve == elliptic.P256(), "P-256 leaf")
	eq(t, len(cert.Certificate), 2, "leaf and CA in the chain")

	for _, name := range []string{"ap.test", "127.0.0.1"} {
		_, err = leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		must(t, err, name)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "ps.test"})
	mustErr(t, err, "no SAN for ps.test")

	other, err := NewCA()
	must(t, err)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: other.Pool(), DNSName: "ap.test"})
	mustErr(t, err, "another CA must not validate")

	_, err = ca.Issue()
	mustErr(t, err, "Issue without hosts")
}

func TestCAPEMAndWriteFile(t *testing.T) {
	ca, err := NewCA()
	must(t, err)
	path := filepath.Join(t.TempDir(), "ca.pem")
	must(t, ca.WriteFile(path))
	b, err := os.ReadFile(path)
	must(t, err)
	check(t, bytes.Equal(ca.PEM(), b), "file holds PEM()")
	blk, rest := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM block")
	}
	eq(t, len(rest), 0)
	eq(t, blk.Type, "CERTIFICATE")
	c, err := x509.ParseCertificate(blk.Bytes)
	must(t, err)
	check(t, c.Equal(ca.Cert()), "PEM is the CA cert")
}

func TestClientTLSAndRedirects(t *testing.T) {
	k := newKit(t)
	// A second server at ps.test that redirects to the AP.
	cert, err := k.ca.Issue("ps.test")
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	type seen struct{ host, sni string }
	got := make(chan seen, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.TLS.ServerName}
		http.Redirect(w, r, "https://ap.test/jwks.json", http.StatusFound)
	})}
	go func() { _ = srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})) }()
	t.Cleanup(func() { _ = srv.Close() })
	k.res.Set("ps.test", ln.Addr().String())

	resp, err := k.client.Get("https://ps.test/start")
	must(t, err)
	resp.Body.Close()
	eq(t, resp.StatusCode, http.StatusFound, "redirects are not followed")
	eq(t, <-got, seen{"ps.test", "ps.test"}, "Host and SNI stay the test name")
	eq(t, k.ap.Requests(), 0, "the redirect target was not contacted")

	tr := k.client.Transport.(*http.Transport)
	eq(t, tr.TLSClientConfig.MinVersion, uint16(tls.VersionTLS12))
	check(t, tr.Proxy == nil, "no proxy")
	check(t, k.client.Timeout > 0 && tr.TLSHandshakeTimeout > 0 && tr.ResponseHeaderTimeout > 0, "timeouts set")

	// A client trusting another CA fails the handshake.
	other, err := NewCA()
	must(t, err)
	_, err = NewHTTPClient(other, k.res).Get(k.ap.MetadataURL())
	mustErr(t, err, "untrusted CA")
}

// A CA stored with PEM and KeyPEM loads back and keeps issuing
// certificates its stored root verifies; a key of another CA is refused.
func TestCAStoreAndLoad(t *testing.T) {
	ca, err := NewCAValidFor(24 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := LoadCA(ca.PEM(), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := back.Issue("ap.test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(leaf.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "ap.test"}); err != nil {
		t.Fatalf("a leaf from the loaded CA does not verify under the stored root: %v", err)
	}
	other, _ := NewCA()
	otherKey, _ := other.KeyPEM()
	if _, err := LoadCA(ca.PEM(), otherKey); err == nil {
		t.Fatal("LoadCA accepted another CA's key")
	}
	if _, err := LoadCA([]byte("junk"), keyPEM); err == nil {
		t.Fatal("LoadCA accepted junk")
	}
}
