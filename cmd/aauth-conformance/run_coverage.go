package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aauth-ps/aauth-ps/conformance/suite"
)

// runCoverage prints, per PS-REQUIREMENTS §3 section, how many MUST rows
// (and how many rows of any level) have a check, and the total.
func runCoverage(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("coverage", stderr)
	verbose := fs.Bool("verbose", false, "list the MUST rows without a check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cov := suite.Coverage(suite.Checks())
	fmt.Fprintf(stdout, "%-5s %-48s %11s %11s\n", "§", "section", "MUST", "all rows")
	var m, mc, a, ac int
	for _, s := range cov {
		title := s.Title
		if len(title) > 48 {
			title = title[:47] + "…"
		}
		fmt.Fprintf(stdout, "%-5s %-48s %4d / %-4d %4d / %-4d\n", s.Section, title, s.MustsCovered, s.Musts, s.AllCovered, s.All)
		if *verbose && len(s.Missing) > 0 {
			fmt.Fprintf(stdout, "      MUST without a check: %s\n", strings.Join(s.Missing, " "))
		}
		m, mc, a, ac = m+s.Musts, mc+s.MustsCovered, a+s.All, ac+s.AllCovered
	}
	fmt.Fprintf(stdout, "%-5s %-48s %4d / %-4d %4d / %-4d\n", "", "total", mc, m, ac, a)
	fmt.Fprintf(stdout, "MUST coverage %.1f%%, all rows %.1f%% (RETIRED rows excluded)\n", pct(mc, m), pct(ac, a))
	if nw := suite.NotWireTestable(); len(nw) > 0 {
		fmt.Fprintln(stdout, "not wire-testable (counted as not covered):")
		ids := make([]string, 0, len(nw))
		for id := range nw {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			fmt.Fprintf(stdout, "  %s  %s\n", id, nw[id])
		}
	}
	return nil
}

func pct(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return 100 * float64(n) / float64(d)
}
