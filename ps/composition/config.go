package composition

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// Config is the operator's Mission composition policy: the catalog the
// sets are rendered and evaluated against and the templates proposals are
// matched to. The zero Config (no file) derives every mission's set from
// its proposal (the baseline, or the agent's proposed_authority cut to it).
type Config struct {
	PolicyVersion string
	Catalog       *authority.Catalog
	Templates     []authority.Template
	// Parse applies to every set: Dev admits loopback resources (design §10.2).
	Parse authority.ParseOptions
}

// maxConfigBytes bounds the policy file.
const maxConfigBytes = 1 << 20

type fileTemplate struct {
	Name         string          `json:"name"`
	Agents       []string        `json:"agents,omitempty"`
	Resources    []string        `json:"resources"`
	Tools        []string        `json:"tools,omitempty"`
	Standing     bool            `json:"standing,omitempty"`
	AuthoritySet json.RawMessage `json:"authority_set"`
}

type file struct {
	PolicyVersion string          `json:"policy_version,omitempty"`
	Catalog       json.RawMessage `json:"catalog,omitempty"`
	Templates     []fileTemplate  `json:"templates,omitempty"`
}

// ParseConfig reads the policy file's bytes: {"policy_version",
// "catalog", "templates": [{"name", "agents", "resources", "tools",
// "standing", "authority_set"}]}. Every template's set is parsed and
// checked like any Authority Set.
func ParseConfig(raw []byte, dev bool) (*Config, error) {
	if len(raw) > maxConfigBytes {
		return nil, fmt.Errorf("mission policy: larger than %d bytes", maxConfigBytes)
	}
	if _, err := strictjson.DecodeObject(raw); err != nil {
		return nil, fmt.Errorf("mission policy: %w", err)
	}
	var f file
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("mission policy: %w", err)
	}
	c := &Config{PolicyVersion: f.PolicyVersion, Parse: authority.ParseOptions{Dev: dev}}
	if len(f.Catalog) > 0 {
		cat, err := authority.ParseCatalog(f.Catalog)
		if err != nil {
			return nil, fmt.Errorf("mission policy: %w", err)
		}
		c.Catalog = cat
	}
	for _, t := range f.Templates {
		if t.Name == "" {
			return nil, fmt.Errorf("mission policy: a template needs a name")
		}
		p, err := authority.Parse(t.AuthoritySet, c.Parse)
		if err != nil {
			return nil, fmt.Errorf("mission policy: template %s: %w", t.Name, err)
		}
		c.Templates = append(c.Templates, authority.Template{Name: t.Name, Agents: t.Agents, Resources: t.Resources,
			Tools: t.Tools, Set: p.Set, Standing: t.Standing})
	}
	return c, nil
}

// LoadConfig reads the policy file at path ("" is the zero Config).
func LoadConfig(path string, dev bool) (*Config, error) {
	if path == "" {
		return &Config{Parse: authority.ParseOptions{Dev: dev}}, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mission policy: %w", err)
	}
	return ParseConfig(raw, dev)
}

// WithTemplates is c with templates in place of the operator's: a
// person's standing approvals are matched and derived by the same path as
// the operator's standing templates (Compose).
func (c *Config) WithTemplates(templates []authority.Template) *Config {
	out := *c
	out.Templates = templates
	return &out
}
