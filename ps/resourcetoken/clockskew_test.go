package resourcetoken

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// TestCheckIssuedAt: PS-271, the shared clock-skew rule for body tokens:
// up to the window ahead is accepted, beyond it is 400 clock_skew with
// the judging clock in Date; a zero window is the 60 s default.
func TestCheckIssuedAt(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		ahead  time.Duration
		window time.Duration
		skew   bool
	}{
		{0, 0, false}, {-time.Hour, 0, false}, {60 * time.Second, 0, false}, {61 * time.Second, 0, true},
		{600 * time.Second, 0, true}, {600 * time.Second, 10 * time.Minute, false}, {11 * time.Minute, 10 * time.Minute, true},
	} {
		err := CheckIssuedAt("upstream token", now.Add(c.ahead), now, c.window)
		if !c.skew {
			if err != nil {
				t.Errorf("%v ahead, window %v: %v", c.ahead, c.window, err)
			}
			continue
		}
		p, ok := aauth.AsProblem(err)
		if !ok || p.Status != http.StatusBadRequest || p.Code != aauth.ErrClockSkew || p.Header.Get("Date") != now.UTC().Format(http.TimeFormat) {
			t.Errorf("%v ahead, window %v: %v, want 400 clock_skew with Date", c.ahead, c.window, err)
		}
	}
}
