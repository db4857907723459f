package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance/load"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestLoadAgainstPS keeps `aauth-conformance load` from rotting: a short
// run against a PS started in-process, on each database, with the peer
// (mockin) in the same run. Every agent is set up through the PS's own API
// and web UI (binding, mission approval, scope consent), every exchange
// and every person token request succeeds, and the dated row lands in the
// report file. Speed is not asserted here: that is what the run reports.
// Covers the three-party path under a mission: PS-103, PS-108.
func TestLoadAgainstPS(t *testing.T) {
	state := filepath.Join(t.TempDir(), "provider")
	flags := startedProvider(t, "--listen", providerAddr(t), "--host", "ap.test", "--state", state)
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			dbURL := b.NewMigratedURL(t)
			ps, args, report := loadFixture(t, flags, state, dbURL, "# Performance\n")
			args = append(args, "--peer-mockin", "--mockin-dir", filepath.Join("..", "..", "conformance", "interop", "node"))
			if b.Name == "postgres" {
				u, err := url.Parse(dbURL)
				if err != nil {
					t.Fatal(err)
				}
				args = append(args, "--pg-database", strings.TrimPrefix(u.Path, "/"), "--pg-url", dbURL)
			}
			out, errOut := &syncBuf{}, &syncBuf{}
			if err := run(t.Context(), args, out, errOut); err != nil {
				t.Fatalf("load: %v\n%s\n%s", err, out, errOut)
			}
			wants := []string{"crypto floor (", "three-party exchange, " + b.Name + ", 3 agents", ", 0 errors", "PS/mockin", "row appended",
				"person token endpoint without a mission (as mockin's), 3 agents: PS "}
			if b.Name == "postgres" {
				wants = append(wants, "PostgreSQL CPU ", "PostgreSQL statistics: ", " transactions, ",
					"PostgreSQL waits per exchange (backends seen waiting × the interval): ", " samples every 20ms")
			}
			for _, want := range wants {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("the report lacks %q:\n%s", want, out)
				}
			}
			doc, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(doc)), "\n")
			row := strings.Split(lines[len(lines)-1], "|")
			if !strings.Contains(string(doc), load.RowHeader) || len(row) != strings.Count(strings.SplitN(load.RowHeader, "\n", 2)[0], "|")+1 ||
				strings.TrimSpace(row[3]) != b.Name || strings.TrimSpace(row[4]) != "0" || strings.TrimSpace(row[5]) != "3" || strings.TrimSpace(row[9]) != "0" {
				t.Fatalf("the report file:\n%s", doc)
			}
			// Every PostgreSQL run reports its CPU and transactions beside the PS's.
			if b.Name == "postgres" && (strings.TrimSpace(row[13]) == "—" || strings.TrimSpace(row[14]) == "—") {
				t.Fatalf("no PostgreSQL CPU or transactions in the row:\n%s", doc)
			}
			// Each agent holds its mission and consent: the PS refused nothing.
			if n := ps.TableCounts(t)["missions"]; n != 3 {
				t.Fatalf("%d missions stored, want one per agent", n)
			}
		})
	}
}

// TestOpenLoadAgainstPS runs `aauth-conformance load --rate` briefly on
// SQLite at two rates against one PS: each rate gets its open-loop line
// and row (intended-start percentiles, dropped and late counts), under
// the open-loop table and not the closed one. Speed is not asserted.
// Covers the three-party path under a mission: PS-103, PS-108.
func TestOpenLoadAgainstPS(t *testing.T) {
	state := filepath.Join(t.TempDir(), "provider")
	flags := startedProvider(t, "--listen", providerAddr(t), "--host", "ap.test", "--state", state)
	_, args, report := loadFixture(t, flags, state, storetest.Backends[0].NewMigratedURL(t), "# Performance\n\n"+load.RowHeader+"\n")
	args = append(args, "--rate", "4,8", "--arrivals", "fixed")
	out, errOut := &syncBuf{}, &syncBuf{}
	if err := run(t.Context(), args, out, errOut); err != nil {
		t.Fatalf("load: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"open loop, ", "offered 4/s (fixed), 2 arrivals", "offered 8/s (fixed), 4 arrivals", "from the intended start p50 ", "row appended"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the report lacks %q:\n%s", want, out)
		}
	}
	doc, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	_, open, ok := strings.Cut(string(doc), load.OpenRowHeader+"\n")
	if !ok || !strings.Contains(string(doc), load.RowHeader+"\n\n") {
		t.Fatalf("the open-loop rows must go under their own table:\n%s", doc)
	}
	rows := strings.Split(strings.TrimSpace(open), "\n")
	cols := strings.Count(strings.SplitN(load.OpenRowHeader, "\n", 2)[0], "|") + 1
	for i, rate := range []string{"4", "8"} {
		if i >= len(rows) {
			t.Fatalf("%d open-loop rows:\n%s", len(rows), doc)
		}
		row := strings.Split(rows[i], "|")
		if len(row) != cols || strings.TrimSpace(row[3]) != "sqlite" || strings.TrimSpace(row[4]) != "3" || strings.TrimSpace(row[5]) != "fixed" ||
			strings.TrimSpace(row[6]) != rate || strings.TrimSpace(row[11]) != "0" {
			t.Fatalf("row %d:\n%s", i, doc)
		}
	}
}

// loadFixture starts a PS in-process on dbURL trusting the conformance
// provider (its flags and state), with the person "loader", and returns
// it, the arguments of a short `load` run against it (3 agents, 500 ms)
// and the report file, which starts as doc.
func loadFixture(t *testing.T, providerFlags []string, state, dbURL, doc string) (ps *pstest.PS, args []string, report string) {
	t.Helper()
	resolve, trust, egress := splitFlags(t, providerFlags)
	env := pstest.NewEnv(t)
	ps = env.Start(t, pstest.Options{DatabaseURL: dbURL, Configure: func(c *config.Config) {
		c.Resolve = append(c.Resolve, resolve...)
		c.TrustCA = append(c.TrustCA, trust...)
		c.EgressAllow = egress
	}})
	ps.CreatePerson(t, "loader", false)
	dir := t.TempDir()
	pwFile, psCA, report := filepath.Join(dir, "pw"), filepath.Join(dir, "ps-ca.pem"), filepath.Join(dir, "performance.md")
	if err := os.WriteFile(pwFile, []byte(pstest.TestPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := env.CA.WriteFile(psCA); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(report, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return ps, []string{"load", "--ps", ps.Issuer, "--ps-addr", ps.Addr, "--ps-ca", psCA, "--provider-state", state,
		"--person", "loader", "--password-file", pwFile, "--agents", "3", "--duration", "500ms", "--warmup", "0s",
		"--floor", "50ms", "--ps-pid", strconv.Itoa(os.Getpid()), "--report", report}, report
}
