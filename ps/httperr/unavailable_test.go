package httperr_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/httperr"
)

// unreachable is what the store returns when the database cannot be reached.
type unreachable struct{}

func (unreachable) Error() string   { return "store: op: database error" }
func (unreachable) Unwrap() []error { return []error{dberr.ErrDatabase, dberr.ErrUnavailable} }

// TestUnreachableDatabaseIs503 (issue 12): an unreachable database is 503
// temporarily_unavailable with Retry-After, whatever wrapped it — a bare
// error, a 500 problem, even a signature error (never a 401) — while a
// problem that already said something else than 5xx keeps its answer.
func TestUnreachableDatabaseIs503(t *testing.T) {
	gin.SetMode(gin.TestMode)
	write := func(err error) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(rec)
		httperr.Write(c, err)
		return rec
	}
	for _, err := range []error{
		unreachable{},
		fmt.Errorf("lookup: %w", unreachable{}),
		&aauth.Problem{Status: 500, Code: aauth.ErrServerError, Cause: unreachable{}},
		&aauth.SignatureError{Code: aauth.SigInvalidKey, Cause: unreachable{}},
	} {
		rec := write(err)
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusServiceUnavailable || body["error"] != aauth.ErrTemporarilyUnavailable ||
			rec.Header().Get("Retry-After") == "" || rec.Header().Get(aauth.HeaderSignatureError) != "" {
			t.Errorf("%v: %d %v %s", err, rec.Code, rec.Header(), rec.Body)
		}
	}
	if rec := write(&aauth.Problem{Status: 429, Code: aauth.ErrRateLimited, Cause: unreachable{}}); rec.Code != 429 {
		t.Errorf("a 429 caused by an unreachable database became %d", rec.Code)
	}
	if rec := write(fmt.Errorf("x: %w", dberr.ErrDatabase)); rec.Code != 500 {
		t.Errorf("a database error that is not unreachability: %d", rec.Code)
	}
}
