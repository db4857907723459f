package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// Requirement levels (PS-REQUIREMENTS §3 "Level" column).
const (
	MUST   = "MUST"
	SHOULD = "SHOULD"
	IMPL   = "IMPL"
)

// Check groups, in the order Checks returns them.
const (
	GroupMetadata  = "metadata"
	GroupEndpoints = "endpoints"
	GroupRefusal   = "refusal"
	GroupAccepted  = "accepted"
	GroupReplay    = "replay"
	GroupMethod    = "method"
	// GroupFlow: steps of multi-request flows (binding, missions, tokens).
	GroupFlow = "flow"
)

// DefaultBody is the body of the signed requests sent to Target.Endpoint
// unless Target.Body says otherwise.
var DefaultBody = []byte(`{"resource":"https://rs.test"}`)

// Target is the PS under test and the fixtures the suite acts through.
type Target struct {
	// Issuer is the PS's issuer: its metadata is fetched from
	// Issuer + "/.well-known/aauth-person.json" (PS-001, PS-002).
	Issuer string
	// Client reaches the PS (its trust anchors and name mapping).
	Client *http.Client
	// AP is an agent provider the PS can fetch (resolvable, trusted,
	// admitted by its egress policy); it mints every agent token.
	AP *conformance.AgentProvider
	// Agent is the default signer: its key and identifier. The suite mints
	// a fresh token per request for it (same key, same sub) so no two
	// requests are byte-identical unless a check means them to be.
	Agent *conformance.Agent
	// Endpoint is the signed agent endpoint refusals and accepted requests
	// are sent to; default the metadata's auth_token_endpoint.
	Endpoint string
	// Body is the JSON body sent to Endpoint; default DefaultBody.
	Body []byte
	// Faulty holds agent providers the PS can fetch that misbehave for good,
	// as Break makes them (PS-035, PS-045). A missing fault skips its check.
	Faulty map[Fault]*conformance.AgentProvider
	// Revoke, when set, makes the PS hold a revocation of the agent token
	// (iss, jti) by out-of-band means (the test harness H). When nil the
	// suite revokes through revocation_endpoint, signed as AP, if the PS
	// advertises it (PS-046).
	Revoke func(ctx context.Context, iss, jti string, exp time.Time) error
	// Verified, when set, is how the PS answers a request to Endpoint that
	// passed verification. nil accepts any answer ExpectVerified accepts.
	Verified func(r *Response) error

	// Person does the person's steps; flows needing one are SKIPped
	// without it.
	Person Person
	// Person2 is another person at the PS, for the checks that need two
	// (PS-079, PS-165); they are skipped without it.
	Person2 Person
	// Resource is a test resource the PS can reach (its metadata, keys
	// and resource tokens): the three-party and sub-agent flows need it.
	Resource *conformance.Resource
	// AccessServer is a test access server the PS can reach (four-party:
	// resource tokens whose aud is it); BrokenAccessServers serve wrong
	// metadata for good, keyed by what is wrong (PS-118). Intermediary is
	// a resource that is also an agent (call chaining). Flows needing one
	// are skipped without it.
	AccessServer        *conformance.AccessServer
	BrokenAccessServers map[string]*conformance.AccessServer
	Intermediary        *conformance.Intermediary
	// Resource2 is a second test resource, one no other flow uses.
	Resource2 *conformance.Resource

	mu        sync.Mutex
	md        map[string]any
	scenarios map[string]*scenario
	bind      *boundAgent
	bind2     *boundAgent // the second person's agent (two-persons flow)
	other     *conformance.Agent
	sent      map[string]int64
}

// Check is one black-box check.
type Check struct {
	// ID is the PS-REQUIREMENTS row, "PS-0nn". Several checks share an ID.
	ID string
	// Name says what is sent or looked at; ID and Name are unique together.
	Name string
	// Level is the row's level: MUST, SHOULD or IMPL. Parts of a check may
	// be weaker (see Failure).
	Level string
	// Group is one of the Group* constants.
	Group string
	// Surface is the report surface (Surface* constants); empty means
	// the one covering ID's section (SurfaceOf).
	Surface string
	// Also lists further requirement ids the check exercises.
	Also []string
	// Run performs the check. It returns nil (PASS), a *Failure or any
	// other error (FAIL), or an error from NotApplicable or Skip.
	Run func(ctx context.Context, t *Target) error
}

// Key is "ID Name", unique across Checks.
func (c Check) Key() string { return c.ID + " " + c.Name }

// Hooks run around every check, in the caller's goroutine: the in-repo
// tests use them to assert that a refused request wrote nothing.
type Hooks struct {
	Before, After func(Check)
	// Done receives each result as soon as it is known (live progress).
	Done func(Result)
}

// Status is the outcome of a check.
type Status string

// Outcomes.
const (
	StatusPass Status = "PASS"
	StatusFail Status = "FAIL"
	// StatusSkip: the check could not run here (the endpoint answers 501,
	// a fixture is missing); Result.Detail says why.
	StatusSkip Status = "SKIP"
	// StatusNotApplicable: the check is about an optional endpoint or
	// metadata member the PS does not advertise (PS-252).
	StatusNotApplicable Status = "NOT-APPLICABLE"
)

// Failure is a failed expectation of a given level. A check returning a
// Failure weaker than its own level (a MUST check whose IMPL detail
// differs) fails at the weaker level.
type Failure struct {
	Level string
	Msg   string
}

func (f *Failure) Error() string { return f.Msg }

// Failf returns a *Failure at level.
func Failf(level, format string, args ...any) error {
	return &Failure{Level: level, Msg: fmt.Sprintf(format, args...)}
}

type outcomeError struct {
	status Status
	reason string
}

func (e *outcomeError) Error() string { return string(e.status) + ": " + e.reason }

// NotApplicable ends a check as NOT-APPLICABLE with the reason.
func NotApplicable(format string, args ...any) error {
	return &outcomeError{StatusNotApplicable, fmt.Sprintf(format, args...)}
}

// Skip ends a check as SKIP with the reason.
func Skip(format string, args ...any) error {
	return &outcomeError{StatusSkip, fmt.Sprintf(format, args...)}
}

// Result is the outcome of one check.
type Result struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Group   string   `json:"group"`
	Surface string   `json:"surface"`
	Also    []string `json:"also,omitempty"`
	Level   string   `json:"level"`
	Status  Status   `json:"status"`
	// FailedLevel is set on a FAIL: the level of the expectation that
	// failed, never stronger than Level.
	FailedLevel string        `json:"failed_level,omitempty"`
	Detail      string        `json:"detail,omitempty"`
	Duration    time.Duration `json:"duration_ns"`
}

// Key is "ID Name", as Check.Key.
func (r Result) Key() string { return r.ID + " " + r.Name }

// Blocking reports whether the result fails the run: a MUST failure, or
// with strict any failure.
func (r Result) Blocking(strict bool) bool {
	return r.Status == StatusFail && (strict || r.FailedLevel == MUST)
}

// Report is the outcome of a run.
type Report struct {
	Issuer   string        `json:"issuer"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Results  []Result      `json:"results"`
}

// Counts summarises a report.
type Counts struct {
	Total, Passed, Failed, Warnings, Skipped, NotApplicable int
}

// Counts counts results: Failed are MUST failures, Warnings the SHOULD and
// IMPL ones.
func (r Report) Counts() Counts { return tally(r.Results) }

func tally(results []Result) Counts {
	c := Counts{Total: len(results)}
	for _, res := range results {
		switch res.Status {
		case StatusPass:
			c.Passed++
		case StatusFail:
			if res.FailedLevel == MUST {
				c.Failed++
			} else {
				c.Warnings++
			}
		case StatusSkip:
			c.Skipped++
		case StatusNotApplicable:
			c.NotApplicable++
		}
	}
	return c
}

// OK reports whether no result is blocking (see Result.Blocking).
func (r Report) OK(strict bool) bool {
	for _, res := range r.Results {
		if res.Blocking(strict) {
			return false
		}
	}
	return true
}

// Find returns the result of the check with key "ID Name".
func (r Report) Find(key string) (Result, bool) {
	for _, res := range r.Results {
		if res.Key() == key {
			return res, true
		}
	}
	return Result{}, false
}

// Text renders the report, one line per check. A FAIL whose failed
// expectation is SHOULD or IMPL shows as WARN; N/A is NOT-APPLICABLE.
// Details follow failed, skipped and not-applicable checks.
func (r Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "AAuth PS conformance suite: %s\n", r.Issuer)
	for _, res := range r.Results {
		st := string(res.Status)
		switch {
		case res.Status == StatusFail && res.FailedLevel != MUST:
			st = "WARN"
		case res.Status == StatusNotApplicable:
			st = "N/A"
		}
		fmt.Fprintf(&b, "%-4s  %s  %-6s  %s\n", st, res.ID, res.Level, res.Name)
		if res.Status != StatusPass && res.Detail != "" {
			d := res.Detail
			if res.Status == StatusFail && res.FailedLevel != res.Level {
				d = "[" + res.FailedLevel + "] " + d
			}
			fmt.Fprintf(&b, "      -> %s\n", strings.ReplaceAll(d, "\n", "\n         "))
		}
	}
	c := r.Counts()
	fmt.Fprintf(&b, "%d checks in %s: %d passed, %d failed, %d warnings, %d skipped, %d not applicable\n",
		c.Total, r.Duration.Round(time.Millisecond), c.Passed, c.Failed, c.Warnings, c.Skipped, c.NotApplicable)
	return b.String()
}

// JSON renders the report as indented JSON.
func (r Report) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// Run runs checks in order against t, calling hooks around each, and
// returns the report. A check that panics fails. Once ctx is done the
// remaining checks are skipped.
func Run(ctx context.Context, t *Target, checks []Check, hooks Hooks) Report {
	rep := Report{Issuer: t.Issuer, Started: time.Now()}
	for _, c := range checks {
		if err := ctx.Err(); err != nil {
			res := Result{ID: c.ID, Name: c.Name, Group: c.Group, Surface: SurfaceOf(c), Also: c.Also, Level: c.Level,
				Status: StatusSkip, Detail: "not run: " + err.Error()}
			rep.Results = append(rep.Results, res)
			if hooks.Done != nil {
				hooks.Done(res)
			}
			continue
		}
		if hooks.Before != nil {
			hooks.Before(c)
		}
		res := runOne(ctx, t, c)
		rep.Results = append(rep.Results, res)
		if hooks.After != nil {
			hooks.After(c)
		}
		if hooks.Done != nil {
			hooks.Done(res)
		}
	}
	rep.Duration = time.Since(rep.Started)
	return rep
}

func runOne(ctx context.Context, t *Target, c Check) (res Result) {
	res = Result{ID: c.ID, Name: c.Name, Group: c.Group, Surface: SurfaceOf(c), Also: c.Also, Level: c.Level}
	start := time.Now()
	defer func() {
		res.Duration = time.Since(start)
		if p := recover(); p != nil {
			res.Status, res.FailedLevel = StatusFail, c.Level
			res.Detail = fmt.Sprintf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	err := c.Run(ctx, t)
	var oe *outcomeError
	var f *Failure
	switch {
	case err == nil:
		res.Status = StatusPass
	case errors.As(err, &oe):
		res.Status, res.Detail = oe.status, oe.reason
	case errors.As(err, &f):
		res.Status, res.FailedLevel, res.Detail = StatusFail, weaker(c.Level, f.Level), err.Error()
	default:
		res.Status, res.FailedLevel, res.Detail = StatusFail, c.Level, err.Error()
	}
	return res
}

var strength = map[string]int{MUST: 3, SHOULD: 2, IMPL: 1}

// weaker returns the weaker of two levels.
func weaker(a, b string) string {
	if strength[b] < strength[a] {
		return b
	}
	return a
}

// Select keeps the checks whose ID is in ids (all of them when ids is
// empty). An id no check has is an error.
func Select(checks []Check, ids ...string) ([]Check, error) {
	if len(ids) == 0 {
		return checks, nil
	}
	var out []Check
	for _, id := range ids {
		id = strings.ToUpper(strings.TrimSpace(id))
		found := false
		for _, c := range checks {
			if c.ID == id {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("no check has id %q", id)
		}
	}
	for _, c := range checks {
		if slices.ContainsFunc(ids, func(id string) bool { return strings.EqualFold(strings.TrimSpace(id), c.ID) }) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Groups keeps the checks in the given groups.
func Groups(checks []Check, groups ...string) []Check {
	var out []Check
	for _, c := range checks {
		if slices.Contains(groups, c.Group) {
			out = append(out, c)
		}
	}
	return out
}

// Checks returns every check, freshly built, in run order.
func Checks() []Check {
	var out []Check
	out = append(out, metadataChecks()...)
	out = append(out, endpointChecks()...)
	out = append(out, refusalChecks()...)
	out = append(out, acceptedChecks()...)
	out = append(out, replayChecks()...)
	out = append(out, methodChecks()...)
	out = append(out, flowChecks()...)
	return out
}
