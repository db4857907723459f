package suite

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
)

// Surfaces group checks for the report. Each maps PS-REQUIREMENTS §3
// subsections; the interop demo profile's surfaces (IDP-1 to IDP-5) are
// named where one corresponds.
const (
	SurfaceMetadata      = "metadata"
	SurfaceSignatures    = "signatures"
	SurfaceAgentTokens   = "agent-tokens"
	SurfaceBinding       = "binding"
	SurfaceDeferred      = "deferred"
	SurfaceClarification = "clarification"
	SurfaceMissions      = "missions"
	SurfacePersonTokens  = "person-tokens"
	SurfaceAuthTokens    = "auth-tokens"
	SurfaceFederation    = "federation"
	SurfaceChaining      = "call-chaining"
	SurfaceSubAgents     = "sub-agents"
	SurfacePermission    = "permission"
	SurfaceAudit         = "audit"
	SurfaceRevocation    = "revocation"
	SurfaceSupervisor    = "supervisor"
	// SurfaceComposition is the Mission composition extension
	// (design/mission-composition.md), reported apart from the draft.
	SurfaceComposition = "composition"
)

// Surface describes one group of the report.
type Surface struct {
	Name string
	// Title says what it covers, with the interop profile surface if any.
	Title string
	// Sections are the PS-REQUIREMENTS §3 subsections it covers.
	Sections []string
	// Extension marks a surface outside draft -11.
	Extension bool
}

// Surfaces lists every surface in report order.
func Surfaces() []Surface {
	return []Surface{
		{SurfaceMetadata, "metadata and JWKS", []string{"3.1"}, false},
		{SurfaceSignatures, "signature verification and request bodies", []string{"3.2", "3.4", "3.23"}, false},
		{SurfaceAgentTokens, "agent tokens", []string{"3.3"}, false},
		{SurfaceBinding, "binding, interaction and the relay", []string{"3.13", "3.20"}, false},
		{SurfaceDeferred, "deferred responses and polling", []string{"3.12"}, false},
		{SurfaceClarification, "clarification", []string{"3.14"}, false},
		{SurfaceMissions, "missions (IDP-1)", []string{"3.15", "3.16", "3.17"}, false},
		{SurfacePersonTokens, "person tokens (IDP-2)", []string{"3.5", "3.6"}, false},
		{SurfaceAuthTokens, "three-party auth tokens (IDP-3, IDP-4)", []string{"3.7", "3.8", "3.22"}, false},
		{SurfaceFederation, "four-party federation (IDP-4)", []string{"3.9"}, false},
		{SurfaceChaining, "call chaining", []string{"3.10"}, false},
		{SurfaceSubAgents, "sub-agents (IDP-5)", []string{"3.11"}, false},
		{SurfacePermission, "permission", []string{"3.18"}, false},
		{SurfaceAudit, "audit", []string{"3.19"}, false},
		{SurfaceRevocation, "revocation", []string{"3.21"}, false},
		{SurfaceSupervisor, "supervisor (optional)", []string{"3.24"}, false},
		{SurfaceComposition, "Mission composition (extension)", nil, true},
	}
}

// Requirement is one PS-REQUIREMENTS §3 row.
type Requirement struct {
	ID, Level, Section, SectionTitle string
}

// requirementsTSV is the index of PS-REQUIREMENTS §3 (id, level, section,
// section title), extracted from ../shared/spec/PS-REQUIREMENTS.md so the
// command works without the document; TestRequirementIndex keeps it equal.
//
//go:embed requirements.tsv
var requirementsTSV string

// Requirements returns every §3 row in document order.
func Requirements() []Requirement {
	var out []Requirement
	for line := range strings.SplitSeq(strings.TrimSpace(requirementsTSV), "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 4 {
			out = append(out, Requirement{ID: f[0], Level: f[1], Section: f[2], SectionTitle: f[3]})
		}
	}
	return out
}

// SurfaceOf is the surface of c: its own when set, else the one covering
// the section of its requirement.
func SurfaceOf(c Check) string {
	if c.Surface != "" {
		return c.Surface
	}
	return surfaceOfID(c.ID)
}

func surfaceOfID(id string) string {
	sec := ""
	for _, r := range Requirements() {
		if r.ID == id {
			sec = r.Section
			break
		}
	}
	for _, s := range Surfaces() {
		if slices.Contains(s.Sections, sec) {
			return s.Name
		}
	}
	return SurfaceSignatures
}

// SelectOnly keeps the checks named by items, each a surface name or a
// requirement id (case-insensitive). An item naming neither is an error.
func SelectOnly(checks []Check, items ...string) ([]Check, error) {
	if len(items) == 0 {
		return checks, nil
	}
	var surfaces, ids []string
	for _, it := range items {
		it = strings.TrimSpace(it)
		if slices.ContainsFunc(Surfaces(), func(s Surface) bool { return strings.EqualFold(s.Name, it) }) {
			surfaces = append(surfaces, strings.ToLower(it))
		} else {
			ids = append(ids, it)
		}
	}
	if len(ids) > 0 {
		if _, err := Select(checks, ids...); err != nil {
			return nil, fmt.Errorf("%w (nor is it a surface: %s)", err, strings.Join(surfaceNames(), ", "))
		}
	}
	var out []Check
	for _, c := range checks {
		if slices.Contains(surfaces, SurfaceOf(c)) || slices.ContainsFunc(ids, func(id string) bool { return strings.EqualFold(id, c.ID) }) {
			out = append(out, c)
		}
	}
	return out, nil
}

func surfaceNames() []string {
	var out []string
	for _, s := range Surfaces() {
		out = append(out, s.Name)
	}
	return out
}

// SectionCoverage is how many requirements of one §3 subsection have a
// check.
type SectionCoverage struct {
	Section, Title string
	// Musts and Covered count MUST rows; All and AllCovered every testable
	// row (RETIRED excluded).
	Musts, MustsCovered, All, AllCovered int
	// Missing lists the MUST rows without a check.
	Missing []string
}

// Coverage reports, per §3 subsection, which requirements the checks
// cover. A requirement is covered when some check carries its id (as ID
// or in Also).
func Coverage(checks []Check) []SectionCoverage {
	covered := map[string]bool{}
	for _, c := range checks {
		covered[c.ID] = true
		for _, id := range c.Also {
			covered[id] = true
		}
	}
	var out []SectionCoverage
	idx := map[string]int{}
	for _, r := range Requirements() {
		if r.Level == "RETIRED" {
			continue
		}
		i, ok := idx[r.Section]
		if !ok {
			i = len(out)
			idx[r.Section] = i
			out = append(out, SectionCoverage{Section: r.Section, Title: r.SectionTitle})
		}
		s := &out[i]
		s.All++
		if covered[r.ID] {
			s.AllCovered++
		}
		if r.Level == MUST {
			s.Musts++
			if covered[r.ID] {
				s.MustsCovered++
			} else {
				s.Missing = append(s.Missing, r.ID)
			}
		}
	}
	return out
}
