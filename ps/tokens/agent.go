package tokens

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// Agent is the one value every flow keeps about the agent it acts for:
// what the PS verified (identity, agent token, the key that signed) and
// what the agent asserted for display (platform, device). Within a request
// the verified key is used as is; a pending request stores the Agent as
// JSON and reads the key back once when the person decides.
type Agent struct {
	Iss      string // the agent provider (agent token `iss`)
	Sub      string // the agent identifier, compared exactly (PS-255)
	TokenJTI string
	TokenExp time.Time
	Key      *jose.PublicKey // the admitted cnf.jwk; bound into cnf of issued tokens
	Platform string          // agent-asserted (P§ps-token-endpoint)
	Device   string          // agent-asserted
	// Upstream is set on a chained request (upstream_token), SubAgent when
	// the agent asks for one of its sub-agents (subagent_token).
	Upstream *Upstream
	SubAgent *SubAgent
}

// maxAssertedClaim bounds display values copied from agent-token claims.
const maxAssertedClaim = 200

// AgentOf is the Agent of a verified request. Platform and device come
// from the agent token's claims; a request parameter may replace them.
func AgentOf(a *httpsig.Agent) Agent {
	return Agent{Iss: a.Provider, Sub: a.ID, TokenJTI: a.TokenJTI, TokenExp: a.TokenExp, Key: a.Key,
		Platform: claim(a, "platform"), Device: claim(a, "device")}
}

// platforms is the AAuth Platform Value Registry (P§aauth-platform-value-registry).
var platforms = []string{"web", "mobile", "desktop", "workload", "self-hosted"}

// maxDevice is the draft's limit on `device`, in characters (P§ps-token-endpoint).
const maxDevice = 64

// CheckAsserted validates the `platform` and `device` parameters of a
// token request (both token endpoints, PS-099): platform from the
// registry, compared exactly; device at most 64 printable characters.
// Otherwise 400 invalid_request.
func CheckAsserted(platform, device string) error {
	if platform != "" && !slices.Contains(platforms, platform) {
		return aauth.BadRequest("platform must be one of " + strings.Join(platforms, ", ") + " (the AAuth Platform Value Registry)")
	}
	if !validDevice(device) {
		return aauth.BadRequest(fmt.Sprintf("device must be at most %d printable characters", maxDevice))
	}
	return nil
}

// validDevice: `device` consists of printable UTF-8 characters only and is
// at most 64 characters long (PS-099).
func validDevice(d string) bool {
	if utf8.RuneCountInString(d) > maxDevice {
		return false
	}
	for _, r := range d {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Asserting is the agent with the platform and device a request asserts:
// the request's values, when present, replace the agent token's claims.
func (a Agent) Asserting(platform, device string) Agent {
	if platform != "" {
		a.Platform = platform
	}
	if device != "" {
		a.Device = device
	}
	return a
}

func claim(a *httpsig.Agent, name string) string {
	s, _ := a.Claims[name].(string)
	if len(s) > maxAssertedClaim {
		s = s[:maxAssertedClaim]
	}
	return s
}

// Thumbprint is the RFC 7638 thumbprint of the agent's key ("" without one).
func (a Agent) Thumbprint() string {
	if a.Key == nil {
		return ""
	}
	return a.Key.Thumbprint
}

type agentJSON struct {
	Iss      string         `json:"iss"`
	Sub      string         `json:"sub"`
	TokenJTI string         `json:"token_jti,omitempty"`
	TokenExp int64          `json:"token_exp,omitempty"`
	JWK      map[string]any `json:"jwk,omitempty"`
	Platform string         `json:"platform,omitempty"`
	Device   string         `json:"device,omitempty"`
	Upstream *Upstream      `json:"upstream,omitempty"`
	SubAgent *subAgentJSON  `json:"subagent,omitempty"`
}

type subAgentJSON struct {
	Sub      string         `json:"sub"`
	TokenJTI string         `json:"token_jti"`
	TokenExp int64          `json:"token_exp"`
	JWK      map[string]any `json:"jwk"`
}

// MarshalJSON stores the agent with its key as a public JWK.
func (a Agent) MarshalJSON() ([]byte, error) {
	j := agentJSON{Iss: a.Iss, Sub: a.Sub, TokenJTI: a.TokenJTI, Platform: a.Platform, Device: a.Device, Upstream: a.Upstream}
	if sa := a.SubAgent; sa != nil {
		jwk, err := jose.PublicJWK(sa.Key.Key, "")
		if err != nil {
			return nil, fmt.Errorf("tokens: sub-agent key: %w", err)
		}
		j.SubAgent = &subAgentJSON{Sub: sa.Sub, TokenJTI: sa.TokenJTI, TokenExp: sa.TokenExp.Unix(), JWK: jwk}
	}
	if !a.TokenExp.IsZero() {
		j.TokenExp = a.TokenExp.Unix()
	}
	if a.Key != nil {
		jwk, err := jose.PublicJWK(a.Key.Key, "")
		if err != nil {
			return nil, fmt.Errorf("tokens: agent key: %w", err)
		}
		j.JWK = jwk
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a stored agent, re-admitting its key.
func (a *Agent) UnmarshalJSON(b []byte) error {
	var j agentJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*a = Agent{Iss: j.Iss, Sub: j.Sub, TokenJTI: j.TokenJTI, Platform: j.Platform, Device: j.Device, Upstream: j.Upstream}
	if sa := j.SubAgent; sa != nil {
		k, err := jose.ParsePublicJWK(sa.JWK, aauth.SupportedAlgs)
		if err != nil {
			return fmt.Errorf("tokens: stored sub-agent key: %w", err)
		}
		a.SubAgent = &SubAgent{Sub: sa.Sub, TokenJTI: sa.TokenJTI, TokenExp: time.Unix(sa.TokenExp, 0), Key: k}
	}
	if j.TokenExp != 0 {
		a.TokenExp = time.Unix(j.TokenExp, 0)
	}
	if j.JWK != nil {
		k, err := jose.ParsePublicJWK(j.JWK, aauth.SupportedAlgs)
		if err != nil {
			return fmt.Errorf("tokens: stored agent key: %w", err)
		}
		a.Key = k
	}
	return nil
}
