package authority

import (
	"encoding/json"
	"strings"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
)

// Catalog is the operator's versioned map of resources to classes and of
// scopes and R3 operations to actions (design §2). It is PS configuration,
// not part of a mission: decisions record the version they used.
type Catalog struct {
	Version   string                     `json:"version"`
	Resources map[string]CatalogResource `json:"resources"`
}

// CatalogResource is what the operator knows about one resource.
type CatalogResource struct {
	// Name is how a person knows the resource ("Acme Finance").
	Name string `json:"name,omitempty"`
	// Class is a dotted class such as "finance.ledger" or "hr.records".
	Class string `json:"class,omitempty"`
	// ScopeActions maps each scope to its action (read, write, pay …).
	ScopeActions map[string]string `json:"scope_actions,omitempty"`
	// ScopeDescriptions are the resource's own scope_descriptions; at
	// admission a scope absent from them is refused (design §1).
	ScopeDescriptions map[string]string `json:"scope_descriptions,omitempty"`
	// Operations maps R3 operations to actions.
	Operations []CatalogOperation `json:"operations,omitempty"`
}

// CatalogOperation is one R3 operation the operator has classified.
type CatalogOperation struct {
	Vocabulary string          `json:"vocabulary"`
	Operation  json.RawMessage `json:"operation"`
	Action     string          `json:"action"`
}

func (c *Catalog) resource(id string) (CatalogResource, bool) {
	if c == nil {
		return CatalogResource{}, false
	}
	r, ok := c.Resources[id]
	return r, ok
}

// Class is the catalog class of a resource, or "" when unknown.
func (c *Catalog) Class(resource string) string {
	r, _ := c.resource(resource)
	return r.Class
}

// Name is the display name of a resource, falling back to its identifier.
func (c *Catalog) Name(resource string) string {
	if r, ok := c.resource(resource); ok && r.Name != "" {
		return r.Name
	}
	return resource
}

// Action is the catalog action of an item at a resource, or "" when the
// catalog does not know it (unknown actions are caught by exclusions that
// filter on actions, and never widen an entry: see matchesActions).
func (c *Catalog) Action(resource string, it Item) string {
	r, ok := c.resource(resource)
	if !ok {
		return ""
	}
	switch it.Kind {
	case ItemScope:
		return r.ScopeActions[it.Scope]
	case ItemR3:
		for _, op := range r.Operations {
			if op.Vocabulary == it.Vocabulary && anchor.Equal(op.Operation, it.Op) {
				return op.Action
			}
		}
	}
	return ""
}

// readFor is the part of c that Evaluate reads for a request at
// resource: the version and that resource's name, class and actions (every
// catalog read of Evaluate is keyed by the request's resource). Decision
// records keep it for replay instead of the whole catalog (issue 12).
func (c *Catalog) readFor(resource string) *Catalog {
	if c == nil {
		return nil
	}
	out := &Catalog{Version: c.Version, Resources: map[string]CatalogResource{}}
	if r, ok := c.Resources[resource]; ok {
		r.ScopeDescriptions = nil // admission's, not Evaluate's
		out.Resources[resource] = r
	}
	return out
}

// Version returns the catalog version ("" for none).
func (c *Catalog) version() string {
	if c == nil {
		return ""
	}
	return c.Version
}

// classMatches: a filter "x.*" matches x.anything; otherwise equality.
func classMatches(filter, class string) bool {
	if class == "" {
		return false
	}
	if prefix, ok := strings.CutSuffix(filter, ".*"); ok {
		return strings.HasPrefix(class, prefix+".")
	}
	return filter == class
}
