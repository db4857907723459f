package httperr

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/dunglas/httpsfv"
	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/faults"
)

// Internal is the problem every unexpected error is answered with.
func Internal(cause error) *aauth.Problem {
	return &aauth.Problem{Status: http.StatusInternalServerError, Code: aauth.ErrServerError, Detail: "internal error", Cause: cause}
}

// UnavailableRetryAfter is the Retry-After, in seconds, of a 503 for an
// unreachable database.
const UnavailableRetryAfter = 5

// Write renders err and aborts the gin chain. It returns the problem it
// sent (nil for a signature error), so callers can log 5xx causes.
func Write(c *gin.Context, err error) *aauth.Problem {
	// An unreachable database is the one failure a retry may cure, and the
	// one that must never turn into another answer (a 401, a 404): it is
	// 503 whatever wrapped it (issue 12).
	if errors.Is(err, dberr.ErrUnavailable) {
		if p, ok := aauth.AsProblem(err); !ok || p.Status >= 500 {
			p = aauth.Unavailable("the service is temporarily unavailable; retry later", UnavailableRetryAfter)
			p.Cause = err
			writeProblem(c, p)
			return p
		}
	}
	if se, ok := aauth.AsSignatureError(err); ok {
		writeSignatureError(c, se)
		return nil
	}
	p, ok := aauth.AsProblem(err)
	if !ok {
		p = Internal(err)
	}
	writeProblem(c, p)
	return p
}

// writeSignatureError renders a 401 with the Signature-Error dictionary
// (SK§signature-error) and a problem+json body whose type is the
// sig-error URN and whose `error` repeats the code (PS-013).
func writeSignatureError(c *gin.Context, se *aauth.SignatureError) {
	dict := httpsfv.NewDictionary()
	if faults.On(faults.WrongSignatureError) && se.Code == aauth.SigInvalidKey {
		se.Code = aauth.SigInvalidSignature
	}
	dict.Add("error", httpsfv.NewItem(httpsfv.Token(se.Code)))
	if se.Code == aauth.SigInvalidInput && len(se.RequiredInput) > 0 {
		il := httpsfv.InnerList{Params: httpsfv.NewParams()}
		for _, comp := range se.RequiredInput {
			il.Items = append(il.Items, httpsfv.NewItem(comp))
		}
		dict.Add("required_input", il)
	}
	h := c.Writer.Header()
	if v, err := httpsfv.Marshal(dict); err == nil {
		h.Set(aauth.HeaderSignatureError, v)
	}
	if se.Code == aauth.SigUnsupportedScheme && len(se.AcceptSchemes) > 0 {
		h.Set(aauth.HeaderAcceptSignatureScheme, TokenList(se.AcceptSchemes))
	}
	if se.Code == aauth.SigUnsupportedAlgorithm && len(se.AcceptAlgs) > 0 {
		h.Set(aauth.HeaderAcceptSignatureAlg, TokenList(se.AcceptAlgs))
	}
	body := map[string]any{
		"type":   "urn:ietf:params:sig-error:" + string(se.Code),
		"title":  "Signature verification failed",
		"status": http.StatusUnauthorized,
		"error":  string(se.Code),
	}
	if se.Detail != "" {
		body["detail"] = se.Detail
	}
	writeBody(c, http.StatusUnauthorized, aauth.ProblemContentType, body)
}

// TokenList serializes an SF List of Tokens (PS-254).
func TokenList(tokens []string) string {
	l := make(httpsfv.List, 0, len(tokens))
	for _, t := range tokens {
		l = append(l, httpsfv.NewItem(httpsfv.Token(t)))
	}
	v, err := httpsfv.Marshal(l)
	if err != nil {
		return ""
	}
	return v
}

// writeProblem renders a non-signature error (P§error-response-format).
func writeProblem(c *gin.Context, p *aauth.Problem) {
	h := c.Writer.Header()
	for k, vs := range p.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	writeBody(c, p.Status, aauth.ProblemContentType, p.Body())
}

// JSON writes a 2xx JSON document and aborts the gin chain.
func JSON(c *gin.Context, status int, v any) {
	writeBody(c, status, "application/json", v)
}

func writeBody(c *gin.Context, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("encode response", "err", err)
		status, contentType = http.StatusInternalServerError, aauth.ProblemContentType
		b = []byte(`{"error":"server_error","status":500,"title":"Internal Server Error"}`)
	}
	c.Data(status, contentType, b)
	c.Abort()
}
