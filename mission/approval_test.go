package mission

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

func proposal() Proposal {
	return Proposal{Description: "# Trip", Tools: []Tool{{Name: "WebSearch"}, {Name: "Book"}},
		Resources: []string{"https://flights.example", "https://hotels.example"}, Capabilities: []string{"interaction"}}
}

// PS-185: the person's edits narrow the proposal and never widen it; an
// unedited selection keeps everything; the lifetime sets expires_at.
func TestApproveAppliesEdits(t *testing.T) {
	now := time.Unix(1_800_000_000, 500_000_000)
	p := proposal()
	a, err := p.Approve("https://ap.example", "aauth:a@ap.example", "p1", Edits{}, now)
	if err != nil || a.Description != p.Description || len(a.Tools) != 2 || len(a.Resources) != 2 || a.ExpiresAt != nil ||
		a.Capabilities[0] != "interaction" || a.PersonID != "p1" {
		t.Fatalf("no edits: %+v %v", a, err)
	}
	if got := a.Summary(p); got != "Mission approved." {
		t.Fatalf("summary without edits: %q", got)
	}
	desc, life := "  # Flights only\r\n\r\nNo hotel.  ", 7*24*time.Hour
	a, err = p.Approve("https://ap.example", "aauth:a@ap.example", "p1", Edits{Description: &desc,
		Tools:     Selection{Edited: true, Keep: []string{"WebSearch", "Smuggled"}},
		Resources: Selection{Edited: true, Keep: []string{"https://flights.example", "https://evil.example"}},
		Lifetime:  &life}, now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Description != "# Flights only\n\nNo hotel." {
		t.Fatalf("description %q: trimmed, CRLF normalized", a.Description)
	}
	if len(a.Tools) != 1 || a.Tools[0].Name != "WebSearch" || len(a.Resources) != 1 || a.Resources[0] != "https://flights.example" {
		t.Fatalf("selection widened or lost: %+v %+v", a.Tools, a.Resources)
	}
	if want := now.Add(life).UTC().Truncate(time.Second); a.ExpiresAt == nil || !a.ExpiresAt.Equal(want) {
		t.Fatalf("expires_at %v, want %v", a.ExpiresAt, want)
	}
	want := "Mission approved. The person edited the description. The person removed: tool Book, resource https://hotels.example. It ends " +
		a.ExpiresAt.UTC().Format("2 Jan 2006, 15:04 UTC") + "."
	if got := a.Summary(p); got != want {
		t.Fatalf("summary\n got %q\nwant %q", got, want)
	}
	empty, long, zero := " ", strings.Repeat("a", MaxDescription+1), time.Duration(0)
	for _, e := range []Edits{{Description: &empty}, {Description: &long}, {Lifetime: &zero}} {
		if _, err := p.Approve("i", "s", "p", e, now); !errors.Is(err, ErrEdit) {
			t.Errorf("edit %+v: %v, want ErrEdit", e, err)
		}
	}
}

// Mint moves approved_at forward by 1 ms while the store reports a
// conflict, re-serializing each time; other failures stop it.
func TestMintUniqueApprovedAt(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_123).Add(400 * time.Microsecond)
	a, _ := proposal().Approve("https://ap.example", "aauth:a@ap.example", "p1", Edits{}, now)
	var tried []*Record
	r, err := a.Mint("https://ps.example", now, func(r *Record) error {
		tried = append(tried, r)
		if len(tried) < 3 {
			return dberr.ErrConflict
		}
		return nil
	})
	if err != nil || len(tried) != 3 || r != tried[2] {
		t.Fatalf("Mint = %v after %d tries", err, len(tried))
	}
	if !tried[0].ApprovedAt.Equal(time.UnixMilli(1_800_000_000_123)) || r.ApprovedAt.Sub(tried[0].ApprovedAt) != 2*time.Millisecond {
		t.Fatalf("approved_at %v then %v", tried[0].ApprovedAt, r.ApprovedAt)
	}
	if tried[0].S256 == r.S256 || S256(r.Blob) != r.S256 {
		t.Fatal("the bumped blob was not re-serialized and re-hashed")
	}
	b, _ := r.Parsed()
	if b.ApprovedAt != FormatTime(r.ApprovedAt) || b.Approver != "https://ps.example" || b.Agent != "aauth:a@ap.example" {
		t.Fatalf("blob %s", r.Blob)
	}
	if !r.Approves("https://hotels.example") || r.Approves("https://other.example") {
		t.Fatal("Approves does not follow approved_resources")
	}
	boom := errors.New("boom")
	if _, err := a.Mint("https://ps.example", now, func(*Record) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("a non-conflict failure: %v", err)
	}
	n := 0
	if _, err := a.Mint("https://ps.example", now, func(*Record) error { n++; return dberr.ErrConflict }); err == nil || n != approvedAtAttempts {
		t.Fatalf("endless conflicts: %v after %d tries", err, n)
	}
}

// PS-208: more than 20 misses in a minute put an agent over the limit; the
// window slides; agents are counted apart.
func TestNotFoundLimiter(t *testing.T) {
	var l NotFoundLimiter
	now := time.Unix(1_800_000_000, 0)
	for i := range notFoundLimit {
		if l.Record("a", now.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("over the limit after %d misses", i+1)
		}
	}
	last := now.Add(notFoundLimit * time.Second)
	if !l.Record("a", last) || !l.Over("a", last) {
		t.Fatal("21 misses in a minute are not over the limit")
	}
	if l.Over("b", last) {
		t.Fatal("another agent is limited")
	}
	if l.Over("a", now.Add(notFoundWindow+time.Second)) {
		t.Fatal("the window does not slide")
	}
	if p := SlowDown(); p.Status != 429 || p.RetryAfter != 60 {
		t.Fatalf("SlowDown = %+v", p)
	}
}
