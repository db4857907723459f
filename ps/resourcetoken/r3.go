package resourcetoken

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// R3Document is a verified R3 document (R3§r3-document): its identity
// (uri and hash), its operations and its display, which is
// resource-asserted text for the consent page.
type R3Document struct {
	URI, S256  string
	Vocabulary string
	// Operations is the document's operations array, as served.
	Operations json.RawMessage
	Display    R3Display
}

// R3Display is the document's human-readable description; every member is
// resource-asserted Markdown, sanitized before it is shown (PS-168).
type R3Display struct {
	Summary, Implications, DataAccessed, Irreversible, Detail string
}

// VerifyR3 checks the bytes fetched from rt.R3URI against rt.R3S256
// (R3§content-addressing: SHA-256 of the bytes as received, base64url
// without padding, no canonicalization) and parses them. Any failure is
// 400 invalid_resource_token (PS-243).
func VerifyR3(rt *ResourceToken, body []byte) (*R3Document, error) {
	sum := sha256.Sum256(body)
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(got), []byte(rt.R3S256)) != 1 {
		return nil, invalidRT("the R3 document at r3_uri does not match r3_s256")
	}
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, problem(aauth.ErrInvalidResourceToken, "the R3 document is not a JSON object", err)
	}
	doc := &R3Document{URI: rt.R3URI, S256: rt.R3S256}
	doc.Vocabulary, _ = m["vocabulary"].(string)
	ops, isArray := m["operations"].([]any)
	if doc.Vocabulary == "" || !isArray {
		return nil, invalidRT("the R3 document needs a vocabulary and an operations array")
	}
	if doc.Operations, err = json.Marshal(ops); err != nil {
		return nil, invalidRT("the R3 document's operations cannot be read")
	}
	if d, ok := m["display"].(map[string]any); ok {
		str := func(name string) string { s, _ := d[name].(string); return s }
		doc.Display = R3Display{Summary: str("summary"), Implications: str("implications"),
			DataAccessed: str("data_accessed"), Irreversible: str("irreversible"), Detail: str("detail")}
	}
	return doc, nil
}
