package suite

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// verdict collects failed expectations of several levels.
type verdict struct{ fs []Failure }

func (v *verdict) add(level, format string, args ...any) {
	v.fs = append(v.fs, Failure{Level: level, Msg: fmt.Sprintf(format, args...)})
}

// addErr adds err (nil is ignored) at its own level if it is a *Failure,
// else at level.
func (v *verdict) addErr(level string, err error) {
	if err == nil {
		return
	}
	var f *Failure
	if errors.As(err, &f) {
		v.fs = append(v.fs, *f)
		return
	}
	v.fs = append(v.fs, Failure{Level: level, Msg: err.Error()})
}

// err is nil, or a *Failure at the strongest level found whose message
// lists every failed expectation, the weaker ones tagged with their level.
func (v *verdict) err() error {
	if len(v.fs) == 0 {
		return nil
	}
	top := IMPL
	for _, f := range v.fs {
		if strength[f.Level] > strength[top] {
			top = f.Level
		}
	}
	msgs := make([]string, len(v.fs))
	for i, f := range v.fs {
		msgs[i] = f.Msg
		if f.Level != top {
			msgs[i] += " [" + f.Level + "]"
		}
	}
	return &Failure{Level: top, Msg: strings.Join(msgs, "; ")}
}

// SigError parses the Signature-Error dictionary of h and returns its
// error token (PS-013). A missing header is an error.
func SigError(h http.Header) (string, *httpsfv.Dictionary, error) {
	vals := h.Values(aauth.HeaderSignatureError)
	if len(vals) == 0 {
		return "", nil, errors.New("no Signature-Error header")
	}
	d, err := httpsfv.UnmarshalDictionary(vals)
	if err != nil {
		return "", nil, fmt.Errorf("Signature-Error %q does not parse as an SF Dictionary: %v", vals, err)
	}
	m, ok := d.Get("error")
	if !ok {
		return "", d, fmt.Errorf("Signature-Error %q has no error member", vals)
	}
	it, ok := m.(httpsfv.Item)
	if !ok {
		return "", d, fmt.Errorf("Signature-Error %q: error is not an item", vals)
	}
	tok, ok := it.Value.(httpsfv.Token)
	if !ok {
		return "", d, fmt.Errorf("Signature-Error %q: error is not a Token", vals)
	}
	return string(tok), d, nil
}

// TokenList parses an SF List whose members are bare Tokens without
// parameters (PS-254).
func TokenList(vals []string) ([]string, error) {
	l, err := httpsfv.UnmarshalList(vals)
	if err != nil {
		return nil, fmt.Errorf("%q is not an SF List: %v", vals, err)
	}
	var out []string
	for _, m := range l {
		it, ok := m.(httpsfv.Item)
		if !ok {
			return nil, fmt.Errorf("%q: a member is an inner list", vals)
		}
		tok, ok := it.Value.(httpsfv.Token)
		if !ok {
			return nil, fmt.Errorf("%q: member %v is not a Token", vals, it.Value)
		}
		if len(it.Params.Names()) != 0 {
			return nil, fmt.Errorf("%q: Token %s has parameters", vals, tok)
		}
		out = append(out, string(tok))
	}
	return out, nil
}

// RequiredInput returns the required_input inner list of a Signature-Error
// dictionary (PS-014): its members must be Strings.
func RequiredInput(d *httpsfv.Dictionary) ([]string, error) {
	m, ok := d.Get("required_input")
	if !ok {
		return nil, errors.New("invalid_input without required_input")
	}
	il, ok := m.(httpsfv.InnerList)
	if !ok {
		return nil, errors.New("required_input is not an inner list")
	}
	var comps []string
	for _, it := range il.Items {
		s, ok := it.Value.(string)
		if !ok {
			return nil, fmt.Errorf("required_input member %v is not a String", it.Value)
		}
		comps = append(comps, s)
	}
	return comps, nil
}

// mediaType is the media type of a Content-Type value, or "".
func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

// fullySpecified is the set of fully-specified JOSE signature algorithm
// identifiers, exactly as registered (RFC 7518, RFC 8812, RFC 9864 and the
// ML-DSA registrations). EdDSA, none and HS* are deliberately absent.
var fullySpecified = []string{
	"Ed25519", "Ed448", "ES256", "ES384", "ES512", "ES256K",
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ML-DSA-44", "ML-DSA-65", "ML-DSA-87",
}

// checkAlgList checks a list of algorithms the PS accepts (PS-007, PS-254).
func checkAlgList(v *verdict, what string, algs []string) {
	for _, a := range algs {
		if !slices.Contains(fullySpecified, a) {
			v.add(MUST, "%s lists %q, not a fully-specified JOSE signature algorithm as registered", what, a)
		}
	}
	if !slices.Contains(algs, aauth.AlgEd25519) {
		v.add(MUST, "%s %v lacks Ed25519", what, algs)
	}
}

// refusal is what a refused request must look like.
type refusal struct {
	code aauth.SigCode
	// codeLevel is the level of the exact code (the 401 itself is at the
	// check's level).
	codeLevel string
	// required is the required_input set for invalid_input.
	required []string
	// algs is the metadata accept_signature_algs, nil when absent.
	algs []string
}

// ExpectRefusal checks that r is the 401 refusal code: status 401, a
// Signature-Error dictionary whose error Token is code and that carries
// nothing but error and required_input (PS-013, PS-254), a problem+json
// body with a string error (PS-054) repeating the code with the sig-error
// type URN (IMPL), and Accept-Signature-* only with their own error. It
// returns nil or a *Failure.
func ExpectRefusal(r *Response, code aauth.SigCode) error {
	var v verdict
	checkRefusal(&v, r, refusal{code: code, codeLevel: MUST, required: append(slices.Clone(aauth.BaseComponents), aauth.BodyComponents...)})
	return v.err()
}

func checkRefusal(v *verdict, r *Response, want refusal) {
	if r.Status != http.StatusUnauthorized {
		v.add(MUST, "status %d, want 401 with Signature-Error %s; body %s", r.Status, want.code, r.Raw)
		return
	}
	got, d, err := SigError(r.Header)
	if err != nil {
		v.add(MUST, "PS-013: %v", err)
	} else {
		if got != string(want.code) {
			v.add(want.codeLevel, "Signature-Error error=%s, want %s; body %s", got, want.code, r.Raw)
		}
		for _, n := range d.Names() {
			if n != "error" && !(n == "required_input" && got == string(aauth.SigInvalidInput)) {
				v.add(MUST, "PS-254: Signature-Error carries %q", n)
			}
		}
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case mediaType(ct) != aauth.ProblemContentType:
		v.add(MUST, "PS-054: Content-Type %q, want %s", ct, aauth.ProblemContentType)
	case ct != aauth.ProblemContentType:
		v.add(IMPL, "Content-Type %q, want exactly %s", ct, aauth.ProblemContentType)
	}
	e, ok := r.Body["error"].(string)
	if !ok {
		v.add(MUST, "PS-054: the problem body has no string error: %s", r.Raw)
	} else if got != "" && e != got {
		v.add(IMPL, "PS-013: problem error %q does not repeat Signature-Error %s", e, got)
	}
	if got != "" && r.Body["type"] != "urn:ietf:params:sig-error:"+got {
		v.add(IMPL, "problem type %v, want urn:ietf:params:sig-error:%s", r.Body["type"], got)
	}
	if got != string(aauth.SigUnsupportedScheme) && r.Header.Get(aauth.HeaderAcceptSignatureScheme) != "" {
		v.add(IMPL, "Accept-Signature-Scheme sent with %s", got)
	}
	if got != string(aauth.SigUnsupportedAlgorithm) && r.Header.Get(aauth.HeaderAcceptSignatureAlg) != "" {
		v.add(IMPL, "Accept-Signature-Alg sent with %s", got)
	}
	if got != string(want.code) || d == nil {
		return
	}
	switch want.code {
	case aauth.SigInvalidInput: // PS-014, PS-015
		comps, err := RequiredInput(d)
		if err != nil {
			v.add(MUST, "PS-014: %v", err)
			break
		}
		for _, c := range want.required {
			if !slices.Contains(comps, c) {
				v.add(MUST, "PS-014: required_input %v lacks %q", comps, c)
			}
		}
		if !slices.Equal(comps, want.required) {
			v.add(IMPL, "required_input = %v, want exactly %v", comps, want.required)
		}
	case aauth.SigUnsupportedScheme: // PS-018, PS-254
		vals := r.Header.Values(aauth.HeaderAcceptSignatureScheme)
		if len(vals) == 0 {
			v.add(SHOULD, "PS-018: unsupported_scheme without Accept-Signature-Scheme")
			break
		}
		got, err := TokenList(vals)
		if err != nil {
			v.add(MUST, "PS-254: Accept-Signature-Scheme: %v", err)
		} else if !slices.Equal(got, []string{aauth.SchemeJWT}) {
			v.add(IMPL, "PS-018: Accept-Signature-Scheme = %v, want exactly [jwt]", got)
		}
	case aauth.SigUnsupportedAlgorithm: // PS-024, PS-254, PS-007
		vals := r.Header.Values(aauth.HeaderAcceptSignatureAlg)
		if len(vals) == 0 {
			v.add(SHOULD, "PS-024: unsupported_algorithm without Accept-Signature-Alg")
			break
		}
		got, err := TokenList(vals)
		if err != nil {
			v.add(MUST, "PS-254: Accept-Signature-Alg: %v", err)
			break
		}
		checkAlgList(v, "PS-254: Accept-Signature-Alg", got)
		if want.algs != nil {
			if !sameSet(got, want.algs) {
				v.add(MUST, "PS-007: Accept-Signature-Alg %v differs from metadata accept_signature_algs %v", got, want.algs)
			} else if !slices.Equal(got, want.algs) {
				v.add(IMPL, "Accept-Signature-Alg %v is not in the metadata's order %v", got, want.algs)
			}
		}
	case aauth.SigClockSkew: // PS-016: the agent waits by the PS's Date
		if r.Header.Get("Date") == "" {
			v.add(MUST, "PS-016: clock_skew without a Date header")
		}
	}
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// ExpectProblem checks a non-401 problem+json answer with error code and
// no Signature-* header (PS-054, PS-028). It returns nil or a *Failure.
func ExpectProblem(r *Response, status int, code string) error {
	var v verdict
	checkProblem(&v, r, status, code, MUST)
	return v.err()
}

// checkProblem: the status at statusLevel, the rest as PS-054 says.
func checkProblem(v *verdict, r *Response, status int, code, level string) {
	if r.Status != status {
		v.add(level, "status %d, want %d %s; body %s", r.Status, status, code, r.Raw)
		return
	}
	ct := r.Header.Get("Content-Type")
	if mediaType(ct) != aauth.ProblemContentType {
		v.add(level, "PS-054: Content-Type %q, want %s", ct, aauth.ProblemContentType)
	}
	if r.Body["error"] != code {
		v.add(level, "error = %v, want %s; body %s", r.Body["error"], code, r.Raw)
	}
	for _, h := range []string{aauth.HeaderSignatureError, aauth.HeaderAcceptSignatureAlg, aauth.HeaderAcceptSignatureScheme} {
		if r.Header.Get(h) != "" {
			v.add(level, "PS-028: a %d answer carries %s", r.Status, h)
		}
	}
}

// ExpectVerified checks that a signed request passed verification: the
// answer is not a refusal (401, Signature-Error), not "no such endpoint"
// (404, 405), not a rate limit (429) and not a failure to verify (5xx
// other than 501, which a PS may answer after verifying for an endpoint
// whose behaviour it does not implement).
func ExpectVerified(r *Response) error {
	if code, _, err := SigError(r.Header); err == nil {
		return fmt.Errorf("refused with Signature-Error %s: %s", code, r)
	}
	switch {
	case r.Status == http.StatusUnauthorized, r.Status == http.StatusNotFound, r.Status == http.StatusMethodNotAllowed,
		r.Status == http.StatusTooManyRequests, r.Status >= 500 && r.Status != http.StatusNotImplemented:
		return fmt.Errorf("the request did not pass verification: %s", r)
	}
	return nil
}
