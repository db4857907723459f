package federation

import (
	"context"
	"errors"
	"slices"
)

// The person's choice on releasing claims to an access server
// (P§requirement-claims, issue 11): the operator's rule says what may be
// released to an AS at all; the person says, the first time an AS asks,
// whether it may have it. The choice is kept per person and AS: a release
// (the person allowed it) or a stop (the person refused, or later stopped
// sharing on /access).

// ErrAskPerson is returned by Release when the person has made no choice
// about this AS yet and something would be released: the loop stops with
// a Wait of requirement WaitClaims and the caller asks the person.
var ErrAskPerson = errors.New("federation: the person has not yet chosen whether this access server may receive their details")

// WaitClaims is the Requirement of a Wait on the person's choice about an
// AS's required_claims (Wait.Claims).
const WaitClaims = "claims"

// Offer is what would be released to as of required (the AS's words):
// the claims the operator's rule for as lists, that are releasable and
// that the person has (have), never sub. It records nothing.
func (t *Trust) Offer(ctx context.Context, as string, required []string, have map[string]any) (map[string]any, error) {
	a, err := t.admitted(ctx, as)
	if err != nil || a == nil {
		return map[string]any{}, err
	}
	out := map[string]any{}
	for _, c := range required {
		if v, ok := have[c]; ok && c != "sub" && slices.Contains(a.Claims, c) && slices.Contains(Releasable, c) {
			out[c] = v
		}
	}
	return out, nil
}

// Chosen reports whether personID has a recorded choice about as: a
// release (allowed) or a stop (refused or stopped).
func (t *Trust) Chosen(ctx context.Context, personID, as string) (allowed, stopped bool, err error) {
	rel, err := t.st.ClaimReleases(ctx, personID)
	if err != nil {
		return false, false, err
	}
	for _, r := range rel {
		if r.AccessServer != as {
			continue
		}
		if r.StoppedAt != nil {
			return false, true, nil
		}
		allowed = true
	}
	return allowed, false, nil
}

// Allow is the person's yes to as: Offer is released, and each released
// claim recorded, which remembers the choice (unless the person stopped
// release meanwhile: then nothing).
func (t *Trust) Allow(ctx context.Context, personID, as string, required []string, have map[string]any) (map[string]any, error) {
	if _, stopped, err := t.Chosen(ctx, personID, as); err != nil || stopped {
		return map[string]any{}, err
	}
	out, err := t.Offer(ctx, as, required, have)
	if err != nil {
		return nil, err
	}
	for c := range out {
		if err := t.st.RecordClaimRelease(ctx, personID, as, c, t.now()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Refuse is the person's no to as: remembered as a stop, shown on their
// page like Stop sharing.
func (t *Trust) Refuse(ctx context.Context, personID, as string) error {
	return t.st.StopClaimRelease(ctx, personID, as, t.now())
}

// admitted is the AS record, nil when this PS has none (nothing may be
// released to an AS the operator never listed) or the policy refuses it
// (Admit): a distrusted AS keeps its release rule for a later trust, but
// receives nothing meanwhile.
func (t *Trust) admitted(ctx context.Context, as string) (*AccessServer, error) {
	a, err := t.st.AccessServer(ctx, as)
	switch {
	case isNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	case t.refuses(a):
		return nil, nil
	}
	return a, nil
}
