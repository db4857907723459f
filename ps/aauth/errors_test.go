package aauth_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

func TestSignatureErrorMessage(t *testing.T) {
	cause := errors.New("low-level cause")
	for _, c := range []struct {
		err  *aauth.SignatureError
		want string
	}{
		{&aauth.SignatureError{Code: aauth.SigInvalidJWT}, "invalid_jwt"},
		{&aauth.SignatureError{Code: aauth.SigInvalidJWT, Detail: "no kid"}, "invalid_jwt: no kid"},
		{&aauth.SignatureError{Code: aauth.SigUnknownKey, Cause: cause}, "unknown_key: low-level cause"},
		// Detail wins over Cause: the detail is what the client sees.
		{&aauth.SignatureError{Code: aauth.SigUnknownKey, Detail: "kid not found", Cause: cause}, "unknown_key: kid not found"},
		{aauth.SigErr(aauth.SigClockSkew, "ahead"), "clock_skew: ahead"},
		{aauth.SigErrf(aauth.SigInvalidInput, "cover %q", "@path"), `invalid_input: cover "@path"`},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}

// TestAsSignatureErrorThroughWrapping: handlers find the 401 code however the
// error was wrapped (PS-013).
func TestAsSignatureErrorThroughWrapping(t *testing.T) {
	se := &aauth.SignatureError{Code: aauth.SigRevokedJWT, Cause: io.ErrUnexpectedEOF}
	for name, err := range map[string]error{
		"direct":      se,
		"fmt %w":      fmt.Errorf("verify: %w", se),
		"twice":       fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", se)),
		"errors.Join": errors.Join(errors.New("other"), se),
	} {
		got, ok := aauth.AsSignatureError(err)
		if !ok || got != se {
			t.Errorf("%s: AsSignatureError = %v, %v", name, got, ok)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: errors.Is does not reach the cause", name)
		}
		if _, ok := aauth.AsProblem(err); ok {
			t.Errorf("%s: a SignatureError is also a Problem", name)
		}
	}
	for _, err := range []error{nil, errors.New("plain"), aauth.BadRequest("x")} {
		if got, ok := aauth.AsSignatureError(err); ok || got != nil {
			t.Errorf("AsSignatureError(%v) = %v, %v", err, got, ok)
		}
	}
}

func TestProblem(t *testing.T) {
	p := aauth.BadRequest("resource is missing")
	if p.Status != http.StatusBadRequest || p.Code != aauth.ErrInvalidRequest || p.Detail != "resource is missing" {
		t.Fatalf("BadRequest = %+v", p)
	}
	if got := p.Error(); got != "400 invalid_request: resource is missing" {
		t.Fatalf("Error() = %q", got)
	}
	if got := aauth.NewProblem(http.StatusNotFound, aauth.ErrMissionNotFound, "").Error(); got != "404 mission_not_found" {
		t.Fatalf("Error() = %q", got)
	}
	u := aauth.Unavailable("agent provider unreachable", 7)
	if u.Status != http.StatusServiceUnavailable || u.Code != aauth.ErrTemporarilyUnavailable || u.RetryAfter != 7 {
		t.Fatalf("Unavailable = %+v", u)
	}
}

// TestAsProblemThroughWrapping mirrors the SignatureError test for
// non-signature errors (503 with Retry-After, A-25).
func TestAsProblemThroughWrapping(t *testing.T) {
	cause := errors.New("dial tcp: refused")
	p := aauth.Unavailable("later", 3)
	p.Cause = cause
	for name, err := range map[string]error{
		"direct":      p,
		"fmt %w":      fmt.Errorf("handler: %w", p),
		"errors.Join": errors.Join(p, errors.New("other")),
	} {
		got, ok := aauth.AsProblem(err)
		if !ok || got != p || got.RetryAfter != 3 {
			t.Errorf("%s: AsProblem = %v, %v", name, got, ok)
		}
		if !errors.Is(err, cause) {
			t.Errorf("%s: errors.Is does not reach the cause", name)
		}
		if _, ok := aauth.AsSignatureError(err); ok {
			t.Errorf("%s: a Problem is also a SignatureError", name)
		}
	}
	if got, ok := aauth.AsProblem(nil); ok || got != nil {
		t.Fatalf("AsProblem(nil) = %v, %v", got, ok)
	}
}

// TestAllSigCodes: every code is listed once and spelled as the
// signature-key draft registers it (PS-013).
func TestAllSigCodes(t *testing.T) {
	want := "invalid_signature invalid_input unsupported_scheme unsupported_algorithm invalid_key unknown_key " +
		"invalid_jwt expired_jwt revoked_jwt clock_skew issuer_missing issuer_mismatch"
	var got []string
	seen := map[aauth.SigCode]bool{}
	for _, c := range aauth.AllSigCodes {
		if seen[c] {
			t.Errorf("%s listed twice", c)
		}
		seen[c] = true
		got = append(got, string(c))
	}
	if strings.Join(got, " ") != want {
		t.Fatalf("AllSigCodes = %v", got)
	}
}
