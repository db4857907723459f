package web

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
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

// recordCheckpoint is POST /missions/{s256}/checkpoints/{id}: the person
// records a step of their own mission (satisfy_via "control").
func (u *UI) recordCheckpoint(c *gin.Context, s *session) error {
	m, err := u.visible(c, s)
	if err != nil {
		return err
	}
	to := "/missions/" + m.S256
	err = u.opt.MissionKinds.RecordCheckpoint(ctx(c), m.S256, s.person, c.Param("id"))
	switch {
	case errors.Is(err, missionflow.ErrNotFound):
		return errNotFound
	case errors.Is(err, interact.ErrStage):
		u.redirectRefusal(c, to, stageRefusal(err))
		return nil
	case err != nil:
		return err
	}
	u.log.InfoContext(ctx(c), "mission checkpoint recorded", "mission", m.S256, "checkpoint", c.Param("id"), "by", s.person.ID, "username", s.person.Username)
	u.redirectFlash(c, to, "Step recorded.")
	return nil
}

// consentedView is the mission page's "What the mission allows" and its steps.
func consentedView(a *missionflow.MissionAuthority) *templates.ConsentedView {
	v := &templates.ConsentedView{RenderingHash: a.RenderingHash, Standing: a.Standing, Narrowed: a.Narrowed}
	for _, l := range a.Lines {
		v.Lines = append(v.Lines, l.Text)
	}
	for _, cp := range a.Checkpoints {
		st := templates.StepView{ID: cp.ID, Text: cp.Text, Recorded: cp.Recorded, CanRecord: cp.CanRecord}
		switch {
		case cp.Recorded == nil:
			st.State = "pending"
		case cp.Consumed:
			st.State = "used"
		case cp.AgentAsserted:
			st.State = "reported by the agent"
		default:
			st.State = "recorded"
		}
		v.Steps = append(v.Steps, st)
	}
	return v
}
