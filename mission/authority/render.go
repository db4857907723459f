package authority

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
)

// RenderingObject is the discriminator of a consent rendering.
const RenderingObject = "aauth-mm/consent-rendering/v1"

// RenderingTemplate names the wording below; bump it when sentences change.
const RenderingTemplate = "mission-consent@1"

// Line is one sentence of a rendering, tied to the entry, exclusion or
// checkpoint id it describes ("default_outside" for the rest).
type Line struct {
	Ref  string `json:"ref"`
	Text string `json:"text"`
}

// Rendering is the consent rendering object (design §4): what the person
// was shown, committed by consent_rendering_hash. It proves what was
// stored as shown, not that it was understood.
type Rendering struct {
	Object        string `json:"object"`
	Template      string `json:"template"`
	Locale        string `json:"locale"`
	ProposalHash  string `json:"proposal_hash"`
	AuthorityHash string `json:"authority_hash"`
	ExpiresAt     string `json:"expires_at,omitempty"`
	Description   string `json:"description"`
	Lines         []Line `json:"lines"`
	// Standing names the standing template a headless approval used
	// instead of a person's view.
	Standing string `json:"standing,omitempty"`
	// Removed repeats what admission cut, so the person sees it.
	Removed []string `json:"removed,omitempty"`
}

// Hash is consent_rendering_hash.
func (r *Rendering) Hash() (string, error) { return anchor.Of(r) }

// Render turns a set into plain sentences, in the order entries,
// checkpoints, exclusions, default_outside (as in the design's example).
// An entry's, checkpoint's or exclusion's label, when set, is the
// sentence's subject; otherwise the sentence is built from the set and
// the catalog's resource names. description is the sanitized description
// shown; each edit by the person re-renders.
func Render(s *Set, cat *Catalog, proposalHash, description string, expiresAt *time.Time, removed []string) (*Rendering, error) {
	hash, err := s.Hash()
	if err != nil {
		return nil, err
	}
	r := &Rendering{Object: RenderingObject, Template: RenderingTemplate, Locale: "en-US", ProposalHash: proposalHash,
		AuthorityHash: hash, Description: description, Lines: []Line{}, Removed: removed}
	if expiresAt != nil {
		r.ExpiresAt = expiresAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	for _, e := range s.Entries {
		r.Lines = append(r.Lines, Line{Ref: e.ID, Text: entrySentence(&e, s, cat)})
	}
	for _, c := range s.Checkpoints {
		r.Lines = append(r.Lines, Line{Ref: c.ID, Text: checkpointSentence(&c)})
	}
	for _, x := range s.Exclusions {
		r.Lines = append(r.Lines, Line{Ref: x.ID, Text: "Never: " + exclusionPhrase(&x, cat)})
	}
	outside := "Anything else: refused"
	if s.defaultOutside() == OutsideConsent {
		outside = "Anything else: you will be asked first"
	}
	r.Lines = append(r.Lines, Line{Ref: "default_outside", Text: outside})
	return r, nil
}

// Describe is the rendering's sentence for one entry, checkpoint or
// exclusion of s by id ("" when s has none): the successor diff shows
// added, removed and changed items in the same words as the consent page.
func Describe(s *Set, id string, cat *Catalog) string {
	if e := s.Entry(id); e != nil {
		return entrySentence(e, s, cat)
	}
	if c := s.Checkpoint(id); c != nil {
		return checkpointSentence(c)
	}
	for i := range s.Exclusions {
		if s.Exclusions[i].ID == id {
			return "Never: " + exclusionPhrase(&s.Exclusions[i], cat)
		}
	}
	return ""
}

var actionVerbs = map[string]string{"read": "read", "write": "change", "create": "create", "delete": "delete",
	"send": "send", "publish": "publish", "pay": "pay", "execute": "run", "admin": "administer", "*": "do anything"}

func entrySentence(e *Entry, s *Set, cat *Catalog) string {
	var b strings.Builder
	if e.Target == TargetTool {
		fmt.Fprintf(&b, "Use the %s tool%s", joinAnd(e.Tools), plural(len(e.Tools)))
	} else {
		subject := e.Label
		if subject == "" {
			var verbs []string
			for _, a := range e.Actions {
				if v, ok := actionVerbs[a]; ok {
					verbs = append(verbs, v)
				}
			}
			if len(verbs) == 0 {
				verbs = []string{"use"}
			}
			subject = capitalize(joinAnd(verbs))
			switch {
			case e.ScopesAny:
				subject += " anything the resource offers"
			case len(e.Scopes) > 0:
				subject += " (" + strings.Join(scopeWords(e, cat), "; ") + ")"
			}
			if e.R3 != nil {
				ops := make([]string, len(e.R3.Operations))
				for i, op := range e.R3.Operations {
					ops[i] = string(op)
				}
				subject += " through the operations " + strings.Join(ops, ", ")
			}
		}
		b.WriteString(subject)
		b.WriteString(" at " + resourcePhrase(e.Resource, e.ResourceClass, cat))
	}
	if c := e.Constraints; c != nil {
		for _, p := range c.Params {
			fmt.Fprintf(&b, ", only when %s %s %s", strings.TrimPrefix(p.Pointer, "/"), opWords[p.Op], string(p.Value))
		}
		if a := c.Amount; a != nil {
			if a.MaxPerCall != nil {
				fmt.Fprintf(&b, ", at most %s per call", money(*a.MaxPerCall, a.Currency))
			}
			if a.MaxTotal != nil {
				fmt.Fprintf(&b, ", at most %s in total", money(*a.MaxTotal, a.Currency))
				if a.Budget != "" {
					fmt.Fprintf(&b, " (shared budget %q)", a.Budget)
				}
			}
		}
		if c.MaxGrants != nil {
			fmt.Fprintf(&b, ", at most %d times", *c.MaxGrants)
		}
		if w := c.TimeWindow; w != nil {
			if w.NotBefore != "" {
				b.WriteString(", not before " + w.NotBefore)
			}
			if w.NotAfter != "" {
				b.WriteString(", until " + w.NotAfter)
			}
			if len(w.Days) > 0 {
				b.WriteString(", on " + strings.Join(w.Days, ", "))
			}
			if len(w.HoursUTC) == 2 {
				fmt.Fprintf(&b, ", between %02d:00 and %02d:00 UTC", w.HoursUTC[0], w.HoursUTC[1])
			}
		}
	}
	if len(e.Requires) > 0 {
		var labels []string
		for _, id := range e.Requires {
			if cp := s.Checkpoint(id); cp != nil && cp.Label != "" {
				labels = append(labels, lowerFirst(cp.Label))
			} else {
				labels = append(labels, id)
			}
		}
		b.WriteString(", only after: " + strings.Join(labels, "; "))
	}
	if c := e.Constraints; c != nil && c.OnViolation == "approval" {
		b.WriteString("; beyond these limits you are asked")
	}
	switch e.grant() {
	case GrantApproveEach:
		b.WriteString(" - you are asked every time")
	case GrantConsentOnce:
		b.WriteString(" - you are asked the first time")
	}
	if d := e.Delegation; d != nil && d.Subagents != nil && !*d.Subagents {
		b.WriteString("; not by helper agents")
	}
	return b.String()
}

var opWords = map[string]string{"eq": "is", "in": "is one of", "prefix": "starts with", "max": "is at most", "min": "is at least"}

func checkpointSentence(c *Checkpoint) string {
	label := c.Label
	if label == "" {
		label = c.ID
	}
	if c.Kind == KindAttestation {
		return "The agent reports when this is done: " + label + " (the agent's word, not proof)"
	}
	who := "you"
	if c.Approver != nil && c.Approver.Role != "" {
		who = "someone with the role " + c.Approver.Role
	}
	text := fmt.Sprintf("Approval by %s: %s", who, label)
	if c.SingleUse {
		text += " (each approval is used once)"
	}
	return text
}

func exclusionPhrase(x *Exclusion, cat *Catalog) string {
	if x.Label != "" {
		l := strings.TrimPrefix(x.Label, "No ")
		return l
	}
	var parts []string
	if len(x.Scopes) > 0 {
		parts = append(parts, strings.Join(x.Scopes, ", "))
	}
	if len(x.Actions) > 0 {
		parts = append(parts, "anything that can "+joinAnd(x.Actions))
	}
	if len(x.Tools) > 0 {
		parts = append(parts, "the tools "+joinAnd(x.Tools))
	}
	if x.Resource == nil && x.ResourceClass == "" {
		return strings.Join(parts, "; ")
	}
	where := resourcePhrase(x.Resource, x.ResourceClass, cat)
	if len(parts) == 0 {
		return "anything at " + where
	}
	return strings.Join(parts, "; ") + " at " + where
}

func resourcePhrase(ref *ResourceRef, class string, cat *Catalog) string {
	switch {
	case ref != nil && ref.ID != "":
		return cat.Name(ref.ID)
	case ref != nil:
		return "any site ending in " + ref.HostSuffix
	case class != "":
		return "resources of class " + class
	}
	return "any resource"
}

func money(minor int64, currency string) string {
	return fmt.Sprintf("%d.%02d %s", minor/100, minor%100, currency)
}

func joinAnd(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func lowerFirst(s string) string {
	r := []rune(s)
	if len(r) > 0 {
		r[0] = unicode.ToLower(r[0])
	}
	return string(r)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// scopeWords shows each scope as the resource describes it, when the
// catalog holds its scope_descriptions, else as the scope value.
func scopeWords(e *Entry, cat *Catalog) []string {
	var known map[string]string
	if e.Resource != nil && e.Resource.ID != "" {
		known = scopeDescriptions(cat, e.Resource.ID)
	}
	out := make([]string, len(e.Scopes))
	for i, sc := range e.Scopes {
		out[i] = sc
		if d := known[sc]; d != "" {
			out[i] = d + " [" + sc + "]"
		}
	}
	return out
}
