package conformance

import (
	"errors"
	"fmt"

	"github.com/dunglas/httpsfv"
)

// Requirement is a parsed AAuth-Requirement header (P§requirement-responses).
type Requirement struct {
	// Token is the requirement value: interaction, approval, clarification…
	Token string
	// Params are the String parameters (url, code…). Parameters of other
	// types are not in it; agents ignore what they do not recognise.
	Params map[string]string
	// Names lists every parameter, in order, whatever its type.
	Names []string
}

// ParseRequirement parses AAuth-Requirement header values. No header is
// the zero Requirement and no error.
func ParseRequirement(vals []string) (Requirement, error) {
	if len(vals) == 0 {
		return Requirement{}, nil
	}
	d, err := httpsfv.UnmarshalDictionary(vals)
	if err != nil {
		return Requirement{}, fmt.Errorf("AAuth-Requirement %q is not a structured-field dictionary: %w", vals, err)
	}
	m, ok := d.Get("requirement")
	if !ok {
		return Requirement{}, fmt.Errorf("AAuth-Requirement %q has no requirement member", vals)
	}
	it, ok := m.(httpsfv.Item)
	tok, isTok := it.Value.(httpsfv.Token)
	if !ok || !isTok {
		return Requirement{}, errors.New("AAuth-Requirement: requirement is not a Token")
	}
	r := Requirement{Token: string(tok), Params: map[string]string{}, Names: it.Params.Names()}
	for _, k := range r.Names {
		v, _ := it.Params.Get(k)
		if s, ok := v.(string); ok {
			r.Params[k] = s
		}
	}
	return r, nil
}
