package resourcetoken

import (
	"net/http"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// DefaultSkewWindow is how far ahead of the PS clock a body token's iat
// may be: the signature window (PS-271, A-20).
const DefaultSkewWindow = aauth.DefaultSignatureWindowSeconds * time.Second

// CheckIssuedAt is the clock-skew rule for every token carried as a body
// member (resource, presented, upstream, sub-agent; PS-271,
// P§common-verification): an iat more than window ahead of now is 400
// clock_skew, with a Date header stating the PS clock that judged it, so
// the agent can tell when the same token becomes acceptable. member names
// the token in the detail ("resource token", "upstream token"…). A zero
// window is DefaultSkewWindow.
func CheckIssuedAt(member string, iat, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultSkewWindow
	}
	if !iat.After(now.Add(window)) {
		return nil
	}
	p := problem(aauth.ErrClockSkew, "the "+member+"'s iat is ahead of the person server's clock by more than the signature window", nil)
	p.Header = http.Header{"Date": {now.UTC().Format(http.TimeFormat)}}
	return p
}
