package web

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/templates"
)

// authorityEdit reads one edit of a proposal's Authority Set from the
// consent page's form (POST /interact/{id}/narrow). What the page did not
// offer is refused by the mission kind, which knows the set.
func authorityEdit(form url.Values) interact.AuthorityEdit {
	e := interact.AuthorityEdit{Op: form.Get("op"), Entry: form.Get("entry"), Exclude: form.Get("exclude")}
	if v := strings.TrimSpace(form.Get("max_grants")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			n = -1 // refused: "the limit must be a whole number of at least 1"
		}
		e.MaxGrants = n
	}
	return e
}

// authorityView is the consent page's "What the mission would allow".
func authorityView(a *interact.ReviewAuthority) *templates.AuthorityView {
	v := &templates.AuthorityView{Template: a.Template, Removed: a.Removed, AskOther: a.AskOther, Edited: a.Edited,
		Derived: derivedFrom[a.Source]}
	for _, c := range a.Exclusions {
		v.Exclusions = append(v.Exclusions, templates.Option{Value: c.Value, Label: c.Label})
	}
	for _, l := range a.Lines {
		line := templates.AuthorityLine{Ref: l.Ref, Text: l.Text, AddedByYou: l.AddedByYou, Removable: l.Removable,
			MaxGrants: l.MaxGrants, CanGate: l.Kind == interact.LineEntry && !l.Gated}
		switch l.Kind {
		case interact.LineEntry:
			v.Entries = append(v.Entries, line)
		case interact.LineCheckpoint:
			v.Checkpoints = append(v.Checkpoints, line)
		case interact.LineExclusion:
			v.Never = append(v.Never, line)
		default:
			v.Outside = l.Text
		}
	}
	return v
}

// derivedFrom says where the set came from, in the person's words.
var derivedFrom = map[string]string{
	"template": "This server built these rules from a template your administrator set up for missions like this.",
	"proposed": "The agent proposed these rules; this server cut them to what your administrator allows for this mission.",
	"baseline": "This server built these rules from the resources and tools the agent listed.",
}
