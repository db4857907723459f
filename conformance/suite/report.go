package suite

import (
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// SurfaceSummary counts the results of one surface.
type SurfaceSummary struct {
	Surface Surface
	// Passed, Failed (MUST), Warnings (SHOULD and IMPL failures), Skipped
	// and NotOffered (NOT-APPLICABLE: the PS does not advertise it).
	Passed, Failed, Warnings, Skipped, NotOffered int
	// InSuite is whether the suite has checks for the surface at all, so
	// a surface a run left out (--only) is told from one never checked.
	InSuite bool
}

// Checked is how many checks ran on the surface.
func (s SurfaceSummary) Checked() int {
	return s.Passed + s.Failed + s.Warnings + s.Skipped + s.NotOffered
}

// Verdict is the surface's one-word outcome: "fail", "pass", "not
// offered" (every check not applicable), "skipped", "not selected" when
// the run left its checks out, or "not yet checked" when this suite has
// no check for it.
func (s SurfaceSummary) Verdict() string {
	switch {
	case s.Checked() == 0 && s.InSuite:
		return "not selected"
	case s.Checked() == 0:
		return "not yet checked"
	case s.Failed > 0:
		return "fail"
	case s.NotOffered == s.Checked():
		return "not offered"
	case s.Passed == 0 && s.Warnings == 0:
		return "skipped"
	case s.Warnings > 0:
		return "pass (warnings)"
	}
	return "pass"
}

// Summary counts the results per surface, in Surfaces order.
func (r Report) Summary() []SurfaceSummary {
	inSuite := map[string]bool{}
	for _, c := range Checks() {
		inSuite[SurfaceOf(c)] = true
	}
	var out []SurfaceSummary
	for _, s := range Surfaces() {
		sum := SurfaceSummary{Surface: s, InSuite: inSuite[s.Name]}
		for _, res := range r.Results {
			if res.Surface == s.Name {
				c := tally([]Result{res})
				sum.Passed += c.Passed
				sum.Failed += c.Failed
				sum.Warnings += c.Warnings
				sum.Skipped += c.Skipped
				sum.NotOffered += c.NotApplicable
			}
		}
		out = append(out, sum)
	}
	return out
}

// Table renders the per-surface summary table.
func (r Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-14s %-42s %5s %5s %5s %5s %11s  %s\n", "SURFACE", "", "PASS", "FAIL", "WARN", "SKIP", "NOT OFFERED", "VERDICT")
	for _, s := range r.Summary() {
		fmt.Fprintf(&b, "%-14s %-42s %5d %5d %5d %5d %11d  %s\n", s.Surface.Name, s.Surface.Title,
			s.Passed, s.Failed, s.Warnings, s.Skipped, s.NotOffered, s.Verdict())
	}
	c := r.Counts()
	fmt.Fprintf(&b, "%-14s %-42s %5d %5d %5d %5d %11d\n", "total", "", c.Passed, c.Failed, c.Warnings, c.Skipped, c.NotApplicable)
	return b.String()
}

// JUnit renders the report as JUnit XML: one testsuite per surface, one
// testcase per check. MUST failures are <failure>; SHOULD and IMPL
// failures, skips and "not offered" are <skipped> with the reason, so CI
// tools count only what fails the run.
func (r Report) JUnit() ([]byte, error) {
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type skipped struct {
		Message string `xml:"message,attr"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      float64  `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Skipped   *skipped `xml:"skipped,omitempty"`
	}
	type testsuite struct {
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Skipped  int        `xml:"skipped,attr"`
		Time     float64    `xml:"time,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	type testsuites struct {
		XMLName  xml.Name    `xml:"testsuites"`
		Name     string      `xml:"name,attr"`
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Time     float64     `xml:"time,attr"`
		Suites   []testsuite `xml:"testsuite"`
	}
	all := testsuites{Name: "aauth-conformance " + r.Issuer, Time: r.Duration.Seconds()}
	for _, s := range Surfaces() {
		ts := testsuite{Name: s.Name}
		for _, res := range r.Results {
			if res.Surface != s.Name {
				continue
			}
			tc := testcase{Name: res.ID + " " + res.Name, Classname: "aauth." + s.Name, Time: res.Duration.Seconds()}
			switch {
			case res.Status == StatusFail && res.FailedLevel == MUST:
				tc.Failure = &failure{Message: firstLine(res.Detail), Type: res.FailedLevel, Text: res.Detail}
				ts.Failures++
			case res.Status == StatusFail:
				tc.Skipped = &skipped{Message: "warning [" + res.FailedLevel + "]: " + res.Detail}
				ts.Skipped++
			case res.Status == StatusSkip:
				tc.Skipped = &skipped{Message: "skipped: " + res.Detail}
				ts.Skipped++
			case res.Status == StatusNotApplicable:
				tc.Skipped = &skipped{Message: "not offered: " + res.Detail}
				ts.Skipped++
			}
			ts.Cases = append(ts.Cases, tc)
			ts.Time += res.Duration.Seconds()
		}
		ts.Tests = len(ts.Cases)
		all.Tests += ts.Tests
		all.Failures += ts.Failures
		all.Suites = append(all.Suites, ts)
	}
	b, err := xml.MarshalIndent(all, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Progress renders one result as a live progress line.
func Progress(res Result) string {
	st := string(res.Status)
	switch {
	case res.Status == StatusFail && res.FailedLevel != MUST:
		st = "WARN"
	case res.Status == StatusNotApplicable:
		st = "N/A"
	}
	line := fmt.Sprintf("%-4s %s %s (%s)", st, res.ID, res.Name, res.Duration.Round(time.Millisecond))
	if res.Status != StatusPass && res.Detail != "" {
		line += ": " + firstLine(res.Detail)
	}
	return line
}
