package mission

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/gowebpki/jcs"
)

// Tool is a tool the agent proposes to use (name required).
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Blob is the approved mission. Members beyond the -11 floor (agent,
// approved_at, description) are the optional ones, plus `approver` — this
// PS's issuer, an extension member readers ignore.
type Blob struct {
	Approver          string   `json:"approver"`
	Agent             string   `json:"agent"`
	ApprovedAt        string   `json:"approved_at"`
	Description       string   `json:"description"`
	ExpiresAt         string   `json:"expires_at,omitempty"`
	ApprovedTools     []Tool   `json:"approved_tools,omitempty"`
	ApprovedResources []string `json:"approved_resources,omitempty"`
	// MissionModel is the Mission composition extension member (the
	// anchors and the Authority Set, built by mission/authority); absent
	// for missions approved without one, so their bytes are unchanged.
	MissionModel json.RawMessage `json:"mission_model,omitempty"`
}

// TimeFormat is RFC 3339 UTC with millisecond precision (PS-REQUIREMENTS
// §2.4): approved_at makes every s256 unique.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// FormatTime renders t for the blob.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// Serialize renders the blob once, canonically (RFC 8785). The caller
// persists these bytes and never re-serializes the blob.
func (b Blob) Serialize() ([]byte, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("mission: canonicalize blob: %w", err)
	}
	return out, nil
}

// S256 is the unpadded base64url SHA-256 of bytes: the mission identifier
// of a blob, and the digest of a persisted update.
func S256(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Encode is the `mission` member of the approval response: the blob bytes,
// base64url without padding.
func Encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// s256Pattern is a canonical unpadded base64url SHA-256: 43 characters,
// the last one carrying only two significant bits.
var s256Pattern = regexp.MustCompile(`^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$`)

// ValidS256 reports whether s is a well-formed mission identifier (PS-059).
func ValidS256(s string) bool { return s256Pattern.MatchString(s) }

// ParseBlob decodes persisted blob bytes (for display and checks).
func ParseBlob(b []byte) (*Blob, error) {
	var blob Blob
	if err := json.Unmarshal(b, &blob); err != nil {
		return nil, fmt.Errorf("mission: blob: %w", err)
	}
	return &blob, nil
}
