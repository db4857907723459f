package suite_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance/suite"
)

// TestRequirementIndex: the embedded index is PS-REQUIREMENTS §3, row for
// row (id, level, section), and every check names a row of it. The document
// is read from testdata (a copy, so a clean clone tests it alone); where the
// shared sources sit next to the checkout, the copy must equal them.
func TestRequirementIndex(t *testing.T) {
	doc, err := os.ReadFile("testdata/PS-REQUIREMENTS.md")
	if err != nil {
		t.Fatal(err)
	}
	if shared, err := os.ReadFile("../../../shared/spec/PS-REQUIREMENTS.md"); err == nil && string(shared) != string(doc) {
		t.Fatal("testdata/PS-REQUIREMENTS.md differs from ../shared/spec/PS-REQUIREMENTS.md: copy the new one and update requirements.tsv")
	}
	row := regexp.MustCompile(`^\| (PS-\d{3}) \| ([A-Z]+)`)
	sec := regexp.MustCompile(`^### (3\.\d+) `)
	var want []suite.Requirement
	cur := ""
	for line := range strings.SplitSeq(string(doc), "\n") {
		if strings.HasPrefix(line, "## 4.") {
			break
		}
		if m := sec.FindStringSubmatch(line); m != nil {
			cur = m[1]
		}
		if m := row.FindStringSubmatch(line); m != nil && cur != "" {
			want = append(want, suite.Requirement{ID: m[1], Level: m[2], Section: cur})
		}
	}
	got := suite.Requirements()
	if len(got) != len(want) || len(got) < 290 {
		t.Fatalf("index has %d rows, the document %d", len(got), len(want))
	}
	ids := map[string]bool{}
	for i := range got {
		if got[i].ID != want[i].ID || got[i].Level != want[i].Level || got[i].Section != want[i].Section {
			t.Errorf("row %d: index %+v, document %+v", i, got[i], want[i])
		}
		ids[got[i].ID] = true
	}
	for _, c := range suite.Checks() {
		for _, id := range append([]string{c.ID}, c.Also...) {
			if !ids[id] {
				t.Errorf("%s names %s, not a row", c.Key(), id)
			}
		}
	}
	// Coverage counts what the checks carry.
	var musts, covered int
	for _, s := range suite.Coverage(suite.Checks()) {
		musts += s.Musts
		covered += s.MustsCovered
	}
	if musts != 223 || covered == 0 || covered > musts {
		t.Fatalf("coverage %d / %d", covered, musts)
	}
}

// TestSurfaces: every check lands on a known surface; --only takes
// surfaces and ids.
func TestSurfaces(t *testing.T) {
	known := map[string]bool{}
	for _, s := range suite.Surfaces() {
		known[s.Name] = true
	}
	for _, c := range suite.Checks() {
		if !known[suite.SurfaceOf(c)] {
			t.Errorf("%s: surface %q", c.Key(), suite.SurfaceOf(c))
		}
	}
	got, err := suite.SelectOnly(suite.Checks(), "MISSIONS", "PS-012")
	if err != nil {
		t.Fatal(err)
	}
	var m, p int
	for _, c := range got {
		switch {
		case c.ID == "PS-012":
			p++
		case suite.SurfaceOf(c) == suite.SurfaceMissions:
			m++
		default:
			t.Errorf("selected %s", c.Key())
		}
	}
	if m < 10 || p != 3 {
		t.Fatalf("selected %d mission checks and %d PS-012", m, p)
	}
	if _, err := suite.SelectOnly(suite.Checks(), "nothing"); err == nil {
		t.Fatal("an unknown surface was accepted")
	}
}

// TestReportRenderings: the surface table and the JUnit report count what
// the results say.
func TestReportRenderings(t *testing.T) {
	rep := suite.Report{Issuer: "https://ps.example", Results: []suite.Result{
		{ID: "PS-001", Name: "a", Surface: suite.SurfaceMetadata, Level: suite.MUST, Status: suite.StatusPass},
		{ID: "PS-183", Name: "b", Surface: suite.SurfaceMissions, Level: suite.MUST, Status: suite.StatusFail, FailedLevel: suite.MUST, Detail: "s256 differs"},
		{ID: "PS-207", Name: "c", Surface: suite.SurfaceMissions, Level: suite.IMPL, Status: suite.StatusFail, FailedLevel: suite.IMPL},
		{ID: "PS-214", Name: "d", Surface: suite.SurfacePermission, Level: suite.MUST, Status: suite.StatusNotApplicable},
	}}
	table := rep.Table()
	// A surface the run left out is "not selected"; one the suite has no
	// check for is "not yet checked".
	for _, want := range []string{"metadata", "  pass\n", "missions", "  fail\n", "not offered\n", "federation", "not selected\n", "composition", "not yet checked\n"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	b, err := rep.JUnit()
	if err != nil {
		t.Fatal(err)
	}
	x := string(b)
	if !strings.Contains(x, `<testsuites name="aauth-conformance https://ps.example" tests="4" failures="1"`) ||
		!strings.Contains(x, `<failure message="s256 differs" type="MUST">`) || strings.Count(x, "<skipped") != 2 {
		t.Fatalf("JUnit:\n%s", x)
	}
}
