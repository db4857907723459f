package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// PS-099, PS-256 (issue 15 item 8): the person token endpoint validates
// `platform` against the AAuth Platform Value Registry and `device` as at
// most 64 printable characters. A bad value is 400 invalid_request and
// nothing is issued, even where the same request with good values gets a
// token at once (the resource is approved in the agent's mission).
func TestPersonTokenPlatformAndDevice(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	m := w.approveMission(t, w.agent, b, `{"description":"# Trip","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	body := func(platform, device string) string {
		req := map[string]any{"resource": "https://rs.test", "mission_s256": m.s256}
		if platform != "" {
			req["platform"] = platform
		}
		if device != "" {
			req["device"] = device
		}
		raw, _ := json.Marshal(req)
		return string(raw)
	}
	bad := []struct{ name, platform, device string }{
		{"platform outside the registry", "tv", ""},
		{"platform in another case", "Desktop", ""},
		{"65-character device", "", strings.Repeat("d", 65)},
		{"device with a control character", "", "a\u0007b"},
		{"device with a newline", "", "Chrome\non macOS"},
		{"device with a DEL", "", "Pixel\u007f8"},
	}
	for _, c := range bad {
		before := w.ps.TableCounts(t)
		r := w.post(t, w.agent, "/person", body(c.platform, c.device))
		expectProblem(t, r, http.StatusBadRequest, aauth.ErrInvalidRequest)
		writesNothing(t, w.ps, before)
		if _, issued := r.body["person_token"]; issued {
			t.Fatalf("%s: a person token was issued", c.name)
		}
	}
	// The registry's values and a 64-character device in any script are fine.
	for _, good := range [][2]string{{"desktop", "Chrome on macOS"}, {"self-hosted", strings.Repeat("é", 64)}, {"workload", "Pixel 8 (App)"}} {
		if r := w.post(t, w.agent, "/person", body(good[0], good[1])); r.status != http.StatusOK || r.body["person_token"] == nil {
			t.Fatalf("platform %q device %q: %d %s", good[0], good[1], r.status, r.raw)
		}
	}
}
