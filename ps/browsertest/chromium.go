// Package browsertest drives the PS's web UI in a real headless Chromium
// (through the Chrome DevTools Protocol, with chromedp): the bind, clarify
// and answer flow a person goes through when an agent asks for them, with
// and without JavaScript, keyboard-only use of the consent page, the login
// error, passkeys on a virtual authenticator, an accessibility and
// Content-Security-Policy smoke check of every page, an axe-core audit of
// every page a person or administrator reaches at 1280 and 390 px (axe is
// installed from axe/package-lock.json by .ci/prereqs), and the
// screenshots in docs/screenshots (written only when
// AAUTH_PS_SCREENSHOTS=1).
//
// The tests need Chromium. They look for $AAUTH_PS_CHROMIUM, then chromium
// in PATH, and fail (never skip) when there is none; .ci/prereqs installs
// Debian's package. The PS runs in-process (package pstest) as
// https://ps.test on a random loopback port: Chromium reaches it through
// --host-resolver-rules and trusts its test certificate through
// --ignore-certificate-errors-spki-list, pinned to that one leaf key.
package browsertest

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/chromedp"
)

// EnvChromium names the variable that points to another Chromium binary.
const EnvChromium = "AAUTH_PS_CHROMIUM"

// Chromium returns the Chromium binary the tests run: $AAUTH_PS_CHROMIUM
// when set, else chromium (or chromium-browser) in PATH. The error says
// how to get one.
func Chromium() (string, error) {
	if p := os.Getenv(EnvChromium); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%q is not an executable: %w", EnvChromium, p, err)
		}
		return path, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", errors.New("Chromium not found: the browser tests need it. Install Debian's package " +
		"(apt-get install chromium, or run ./.ci/prereqs), or set " + EnvChromium + " to a Chromium or Chrome binary")
}

// LeafSPKIHash connects to addr with TLS as serverName, verifies the
// certificate against roots, and returns the base64 SHA-256 of the leaf
// certificate's SubjectPublicKeyInfo: the value Chromium's
// --ignore-certificate-errors-spki-list takes.
func LeafSPKIHash(addr, serverName string, roots *x509.CertPool) (string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err != nil {
		return "", fmt.Errorf("TLS to %s as %s: %w", addr, serverName, err)
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", fmt.Errorf("TLS to %s: no certificate", addr)
	}
	sum := sha256.Sum256(certs[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// Flags are Chromium's command-line flags for a test browser: headless, no
// sandbox (tests run as root in containers), no background traffic (the
// test machines have no network), hostPort mapped to 127.0.0.1:port for
// every name in hosts, and only the certificate whose key hashes to spki
// accepted in place of a publicly trusted one.
func Flags(hosts []string, port, spki string) map[string]any {
	rules := ""
	for _, h := range hosts {
		rules += "MAP " + h + ":443 127.0.0.1:" + port + ", "
	}
	rules += "MAP * ~NOTFOUND"
	return map[string]any{
		"headless":                            true,
		"no-sandbox":                          true,
		"disable-gpu":                         true,
		"disable-quic":                        true,
		"no-first-run":                        true,
		"no-default-browser-check":            true,
		"disable-background-networking":       true,
		"disable-component-update":            true,
		"disable-sync":                        true,
		"disable-extensions":                  true,
		"disable-default-apps":                true,
		"disable-breakpad":                    true,
		"disable-dev-shm-usage":               true,
		"disable-features":                    "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication",
		"hide-scrollbars":                     true,
		"mute-audio":                          true,
		"force-color-profile":                 "srgb",
		"password-store":                      "basic",
		"use-mock-keychain":                   true,
		"host-resolver-rules":                 rules,
		"ignore-certificate-errors-spki-list": spki,
	}
}

// NavigationAborted reports a navigation Chromium dropped for another one
// in the same tab (net::ERR_ABORTED): a waiting page's wait.js reloading
// it as the test or the person navigates away.
func NavigationAborted(err error) bool {
	var e *chromedp.LoadError
	return errors.As(err, &e) && e.ErrorText == "net::ERR_ABORTED"
}

// PageChanged reports an action the browser refused because the page it
// was meant for had gone: a node or a script context of a document since
// replaced. Nothing was done (no mouse event was sent), so the page can be
// read again. DevTools tells these apart from other refusals only by their
// message (as chromedp does for its own retries).
func PageChanged(err error) bool {
	var e *cdproto.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, m := range []string{"Could not find node with given id", "No node with given id", "Node is detached from document",
		"Could not compute content quads", "Execution context was destroyed", "Cannot find context with specified id", "Inspected target navigated or closed"} {
		if strings.HasPrefix(e.Message, m) {
			return true
		}
	}
	return false
}
