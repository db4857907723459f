package authority

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
)

// ItemKind is what one part of a request asks for (design §2 "Items").
type ItemKind string

// Item kinds: a scope value, an R3 operation, a permission action (tool),
// or the single identity item of a person-token request.
const (
	ItemScope    ItemKind = "scope"
	ItemR3       ItemKind = "r3"
	ItemTool     ItemKind = "tool"
	ItemIdentity ItemKind = "identity"
)

// Item is one thing a request asks for.
type Item struct {
	Kind       ItemKind        `json:"kind"`
	Scope      string          `json:"scope,omitempty"`
	Vocabulary string          `json:"vocabulary,omitempty"`
	Op         json.RawMessage `json:"op,omitempty"`
	Tool       string          `json:"tool,omitempty"`
}

// Key identifies the item within a mission (consent memory, answers):
// kind and value, the R3 operation in canonical form.
func (it Item) Key() string {
	switch it.Kind {
	case ItemScope:
		return "scope:" + it.Scope
	case ItemR3:
		canon, err := anchor.Canonical(it.Op)
		if err != nil {
			return "r3:" + it.Vocabulary + ":" + anchor.S256(it.Op)
		}
		return "r3:" + it.Vocabulary + ":" + string(canon)
	case ItemTool:
		return "tool:" + it.Tool
	}
	return string(it.Kind)
}

// String names the item for a person or a log line.
func (it Item) String() string {
	switch it.Kind {
	case ItemScope:
		return "scope " + it.Scope
	case ItemR3:
		return "operation " + string(it.Op)
	case ItemTool:
		return "tool " + it.Tool
	}
	return "identity"
}

// resourceMatches applies a resource filter to a resource identifier: id
// by exact string, host_suffix by the identifier's host ending with it
// (identifiers are scheme and host, so URL patterns are host suffixes).
func resourceMatches(ref *ResourceRef, resource string) bool {
	if ref == nil {
		return true
	}
	if resource == "" {
		return false
	}
	if ref.ID != "" {
		return ref.ID == resource
	}
	u, err := url.Parse(resource)
	if err != nil || u.Hostname() == "" {
		return false
	}
	return strings.HasSuffix(u.Hostname(), ref.HostSuffix)
}

// matchesActions: an entry's actions filter narrows it to items whose
// catalog action is listed ("*" lists all). An item the catalog does not
// classify passes only if the entry names it explicitly (a listed scope or
// operation); under scopes_any it does not, so an unknown action never
// rides in on a wildcard.
func matchesActions(actions []string, action string, explicit bool) bool {
	if len(actions) == 0 || slices.Contains(actions, "*") {
		return true
	}
	if action == "" {
		return explicit
	}
	return slices.Contains(actions, action)
}

func r3Has(r *R3, vocabulary string, op json.RawMessage) bool {
	if r == nil || r.Vocabulary != vocabulary {
		return false
	}
	for _, o := range r.Operations {
		if anchor.Equal(o, op) {
			return true
		}
	}
	return false
}

// entryMatches is design §2 (a)–(d) plus the actions filter.
func entryMatches(e *Entry, it Item, req *Request, cat *Catalog) bool {
	if it.Kind == ItemTool {
		return e.Target == TargetTool && slices.Contains(e.Tools, it.Tool)
	}
	if e.Target != TargetResource || !resourceMatches(e.Resource, req.Resource) {
		return false
	}
	if e.ResourceClass != "" && !classMatches(e.ResourceClass, cat.Class(req.Resource)) {
		return false
	}
	switch it.Kind {
	case ItemIdentity:
		// Identity items need only the resource and class (§2 (a)–(b)): a
		// person token carries no account.
		return true
	}
	if len(e.Accounts) > 0 && !slices.Contains(e.Accounts, req.Account) {
		return false
	}
	switch it.Kind {
	case ItemScope:
		explicit := slices.Contains(e.Scopes, it.Scope)
		if !explicit && !e.ScopesAny {
			return false
		}
		return matchesActions(e.Actions, cat.Action(req.Resource, it), explicit)
	case ItemR3:
		if !r3Has(e.R3, it.Vocabulary, it.Op) {
			return false
		}
		return matchesActions(e.Actions, cat.Action(req.Resource, it), true)
	}
	return false
}

// exclusionMatches: resource and class filters as for entries; then an
// exclusion without item filters covers everything at the resource
// (identity included), and one with filters covers an item any filter
// names. Its actions filter also catches items whose action the catalog
// does not know: an exclusion fails closed.
func exclusionMatches(x *Exclusion, it Item, req *Request, cat *Catalog) bool {
	if x.Resource == nil && x.ResourceClass == "" {
		// A tools-only exclusion (the schema requires one of the three).
		return it.Kind == ItemTool && slices.Contains(x.Tools, it.Tool)
	}
	if it.Kind == ItemTool {
		return false
	}
	if !resourceMatches(x.Resource, req.Resource) {
		return false
	}
	if x.ResourceClass != "" && !classMatches(x.ResourceClass, cat.Class(req.Resource)) {
		return false
	}
	if len(x.Actions) == 0 && len(x.Scopes) == 0 && x.R3 == nil && len(x.Tools) == 0 {
		return true
	}
	switch it.Kind {
	case ItemScope:
		if slices.Contains(x.Scopes, it.Scope) {
			return true
		}
	case ItemR3:
		if r3Has(x.R3, it.Vocabulary, it.Op) {
			return true
		}
	default:
		return false
	}
	if len(x.Actions) > 0 {
		action := cat.Action(req.Resource, it)
		return action == "" || slices.Contains(x.Actions, "*") || slices.Contains(x.Actions, action)
	}
	return false
}

func jsonEqualRaw(a, b json.RawMessage) bool { return anchor.Equal(a, b) }
