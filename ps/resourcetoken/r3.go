package resourcetoken

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"

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
	// Ops are the same operations one by one, each a JSON object in the
	// document's vocabulary.
	Ops     []json.RawMessage `json:"ops,omitempty"`
	Display R3Display
	// Parameters is set when the document is a per-call proposal
	// (R3§per-call-proposals): the concrete parameters of one call, shown
	// to the person as resource-asserted content. A proposal names exactly
	// one operation, is approved for that call only and never remembered.
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// Proposal reports whether the document is a per-call proposal.
func (d *R3Document) Proposal() bool { return len(d.Parameters) > 0 }

// How the person lets an agent use one operation of an R3 document
// (R3§auth-token-extensions): outright (r3_granted), each call approved
// on its own (r3_per_call), or not at all.
const (
	R3Granted = "granted"
	R3PerCall = "per_call"
	R3Refused = "none"
)

// R3Selection is what an auth token carries from the document: the
// operations granted outright and those granted per call, each a subset of
// the document's operations (never broader than the document).
type R3Selection struct {
	Granted []json.RawMessage `json:"granted"`
	PerCall []json.RawMessage `json:"per_call,omitempty"`
}

// Empty reports whether the selection grants no operation at all.
func (s R3Selection) Empty() bool { return len(s.Granted) == 0 && len(s.PerCall) == 0 }

// Select applies the person's choice, one mode per operation in document
// order; an operation without a mode (or with an unknown one) is refused,
// so a choice can only narrow. A nil choice grants every operation
// outright; a per-call proposal grants its one operation outright for
// that call (R3§per-call-proposals step 2), whatever the choice.
func (d *R3Document) Select(choice []string) R3Selection {
	sel := R3Selection{Granted: []json.RawMessage{}}
	if choice == nil || d.Proposal() {
		sel.Granted = append(sel.Granted, d.Ops...)
		return sel
	}
	for i, op := range d.Ops {
		if i >= len(choice) {
			break
		}
		switch choice[i] {
		case R3Granted:
			sel.Granted = append(sel.Granted, op)
		case R3PerCall:
			sel.PerCall = append(sel.PerCall, op)
		}
	}
	return sel
}

// R3OperationLabel names an operation for a person: its identifier in the
// vocabulary (tool, operationId, method, operation with its type or
// methods), else its compact JSON.
func R3OperationLabel(op json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(op, &m) == nil {
		for _, k := range []string{"tool", "operationId", "method", "operation"} {
			if v, ok := m[k].(string); ok && v != "" {
				if t, ok := m["type"].(string); ok && t != "" {
					return v + " (" + t + ")"
				}
				if a, ok := m["action"].(string); ok && a != "" {
					return v + " (" + a + ")"
				}
				return v
			}
		}
	}
	return string(op)
}

// MaxR3Operations bounds the operations of one R3 document: each becomes a
// choice on the consent page and a row in the remembered grant.
const MaxR3Operations = 100

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
	if len(ops) == 0 || len(ops) > MaxR3Operations {
		return nil, invalidRT(fmt.Sprintf("the R3 document must name between 1 and %d operations", MaxR3Operations))
	}
	for _, op := range ops {
		if _, ok := op.(map[string]any); !ok {
			return nil, invalidRT("each operation of the R3 document must be a JSON object")
		}
		raw, err := json.Marshal(op)
		if err != nil {
			return nil, invalidRT("the R3 document's operations cannot be read")
		}
		doc.Ops = append(doc.Ops, raw)
	}
	if doc.Operations, err = json.Marshal(ops); err != nil {
		return nil, invalidRT("the R3 document's operations cannot be read")
	}
	if p, present := m["parameters"]; present {
		// A per-call proposal: one operation and its parameters
		// (R3§proposal-document).
		if _, ok := p.(map[string]any); !ok {
			return nil, invalidRT("the per-call proposal's parameters must be a JSON object")
		}
		if len(ops) != 1 {
			return nil, invalidRT("a per-call proposal names exactly one operation")
		}
		// Kept as the resource wrote them (no HTML escaping): they are
		// shown as text, escaped by the template.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(p); err != nil {
			return nil, invalidRT("the per-call proposal's parameters cannot be read")
		}
		doc.Parameters = bytes.TrimSpace(buf.Bytes())
	}
	if d, present := m["display"]; present {
		if _, ok := d.(map[string]any); !ok {
			return nil, invalidRT("the R3 document's display must be a JSON object")
		}
	}
	if d, ok := m["display"].(map[string]any); ok {
		if summary, _ := d["summary"].(string); summary == "" {
			return nil, invalidRT("the R3 document's display needs a summary")
		}
		str := func(name string) string { s, _ := d[name].(string); return s }
		doc.Display = R3Display{Summary: str("summary"), Implications: str("implications"),
			DataAccessed: str("data_accessed"), Irreversible: str("irreversible"), Detail: str("detail")}
	}
	return doc, nil
}
