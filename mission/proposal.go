package mission

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// Limits on proposals (A-46: Markdown is capped; lists are bounded so a
// proposal cannot turn into a storage or rendering burden).
const (
	MaxDescription = 8 << 10
	MaxTools       = 64
	MaxResources   = 64
	maxToolName    = 128
	maxToolDesc    = 1024
)

// Proposal is a mission proposal (P§mission-creation). Capabilities are
// an extension: the defaults for requests under the mission.
type Proposal struct {
	Description  string
	Tools        []Tool
	Resources    []string
	Capabilities []string
}

func bad(format string, args ...any) error {
	return aauth.BadRequest(fmt.Sprintf(format, args...))
}

// ParseProposal validates an E5 body (PS-181). Errors are 400 invalid_request.
func ParseProposal(body []byte, ids aauth.IdentifierPolicy) (*Proposal, error) {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, bad("the body must be a JSON object: %v", err)
	}
	var p Proposal
	d, ok := m["description"].(string)
	if !ok || strings.TrimSpace(d) == "" {
		return nil, bad("description is required and must be a non-empty string")
	}
	if len(d) > MaxDescription {
		return nil, bad("description is longer than %d bytes", MaxDescription)
	}
	p.Description = d
	if v, ok := m["tools"]; ok {
		arr, ok := v.([]any)
		if !ok || len(arr) > MaxTools {
			return nil, bad("tools must be an array of at most %d objects", MaxTools)
		}
		for _, x := range arr {
			o, ok := x.(map[string]any)
			if !ok {
				return nil, bad("each tool must be an object")
			}
			name, ok := o["name"].(string)
			if !ok || strings.TrimSpace(name) == "" || len(name) > maxToolName {
				return nil, bad("each tool needs a string name of at most %d bytes", maxToolName)
			}
			t := Tool{Name: name}
			if dv, has := o["description"]; has {
				ds, ok := dv.(string)
				if !ok || len(ds) > maxToolDesc {
					return nil, bad("a tool description must be a string of at most %d bytes", maxToolDesc)
				}
				t.Description = ds
			}
			if slices.ContainsFunc(p.Tools, func(e Tool) bool { return e.Name == t.Name }) {
				return nil, bad("tool %q is listed twice", t.Name)
			}
			p.Tools = append(p.Tools, t)
		}
	}
	if v, ok := m["resources"]; ok {
		arr, ok := v.([]any)
		if !ok || len(arr) > MaxResources {
			return nil, bad("resources must be an array of at most %d server identifiers", MaxResources)
		}
		for _, x := range arr {
			r, ok := x.(string)
			if !ok || ids.CheckServer(r) != nil {
				return nil, bad("each resource must be a server identifier (https://host)")
			}
			if !slices.Contains(p.Resources, r) {
				p.Resources = append(p.Resources, r)
			}
		}
	}
	if v, ok := m["capabilities"]; ok {
		arr, ok := v.([]any)
		if !ok {
			return nil, bad("capabilities must be an array of strings")
		}
		for _, x := range arr {
			c, ok := x.(string)
			if !ok {
				return nil, bad("capabilities must be an array of strings")
			}
			p.Capabilities = append(p.Capabilities, c)
		}
	}
	return &p, nil
}

// Reference reads the mission a request names: the -11 `mission_s256`
// member, or the April object `mission: {approver, s256}` whose approver
// must be this PS. Both may be present only when they agree. It returns
// "" when the request names no mission. Errors are 400 invalid_request.
func Reference(m map[string]any, issuer string) (string, error) {
	var s256 string
	if v, ok := m["mission_s256"]; ok {
		s, isStr := v.(string)
		if !isStr || !ValidS256(s) {
			return "", bad("mission_s256 must be an unpadded base64url SHA-256 (43 characters)")
		}
		s256 = s
	}
	if v, ok := m["mission"]; ok {
		o, isObj := v.(map[string]any)
		if !isObj {
			return "", bad("mission must be an object with approver and s256")
		}
		approver, _ := o["approver"].(string)
		s, _ := o["s256"].(string)
		if approver == "" || !ValidS256(s) {
			return "", bad("mission must carry a string approver and a well-formed s256")
		}
		if approver != issuer {
			return "", bad("mission.approver names another person server")
		}
		if s256 != "" && s256 != s {
			return "", bad("mission_s256 and mission.s256 disagree")
		}
		s256 = s
	}
	return s256, nil
}
