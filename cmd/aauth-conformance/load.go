package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance/load"
)

// defaultMockinDir is where the peer is installed in a checkout.
const defaultMockinDir = "conformance/interop/node"

// runLoad is `aauth-conformance load`: the provider's agents drive the
// three-party exchange against a running PS (package conformance/load).
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("load", stderr)
	psURL := fs.String("ps", "", "the PS's issuer, e.g. https://ps.example (required)")
	psAddr := fs.String("ps-addr", "", "connect to host:port for the PS's name")
	psCA := fs.String("ps-ca", "", "PEM file of a CA to trust for the PS, besides the system roots")
	state := fs.String("provider-state", defaultState, "the provider's state directory (see `aauth-conformance provider`)")
	username := fs.String("person", "", "user name of the person who approves the agents (required)")
	passwordFile := fs.String("password-file", "", "file holding that person's password (required)")
	agents := fs.Int("agents", 16, "concurrent agents (with --rate: the pool of agents an arrival may take)")
	rates := fs.String("rate", "", "open loop: exchanges per second offered whatever the answers (a comma list runs each in turn on the same agents); latency is measured from each arrival's intended send time, and an arrival with no free agent is dropped and counted")
	arrivals := fs.String("arrivals", string(load.Poisson), "with --rate: poisson or fixed spacing of the arrivals")
	drain := fs.Duration("drain", 5*time.Second, "with --rate: how long sends in flight after the last arrival may still take")
	duration := fs.Duration("duration", 10*time.Second, "length of each measured phase")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured load before each phase")
	floor := fs.Duration("floor", 2*time.Second, "how long each crypto primitive of the floor is timed")
	pid := fs.Int("ps-pid", 0, "the PS's process id, for its CPU and RSS from /proc")
	pgDB := fs.String("pg-database", "", "the PS's PostgreSQL database, for its backends' CPU from /proc")
	pgURL := fs.String("pg-url", "", "the PS's PostgreSQL database URL, for PostgreSQL's statistics per exchange (transactions, rows, sequential scans)")
	stored := fs.Int("stored-missions", 0, "missions seeded into the PS's database, for the report")
	dbLabel := fs.String("database", "", "the PS's database for the report: postgres or sqlite (default: postgres with --pg-database, else sqlite)")
	peer := fs.Bool("peer-mockin", false, "also drive @hellocoop/mockin's person token endpoint, and the PS's, in the same run")
	mockinDir := fs.String("mockin-dir", defaultMockinDir, "directory where `npm ci` installed @hellocoop/mockin")
	report := fs.String("report", "", "append the dated row to this file (docs/performance.md)")
	pprofURL := fs.String("pprof-url", "", "the PS's pprof listener (`aauth-ps serve --pprof`), e.g. http://127.0.0.1:6060: profile the exchange phase")
	profileDir := fs.String("profile-dir", "profiles", "with --pprof-url, where NAME-cpu.pprof and NAME-allocs.pprof are written")
	profileName := fs.String("profile-name", "exchange", "with --pprof-url, the profiles' name prefix")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *psURL == "" || *username == "" || *passwordFile == "" {
		fs.Usage()
		return errors.New("--ps, --person and --password-file are required")
	}
	u, err := url.Parse(*psURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--ps %q: want the PS's https issuer", *psURL)
	}
	if *agents < 1 || *agents > 4096 || *duration <= 0 {
		return errors.New("--agents must be 1…4096 and --duration positive")
	}
	var openRates []float64
	for r := range strings.SplitSeq(*rates, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		f, err := strconv.ParseFloat(r, 64)
		if err != nil || f <= 0 || f > 1e6 {
			return fmt.Errorf("--rate %q: want exchanges per second, e.g. 50,100", *rates)
		}
		openRates = append(openRates, f)
	}
	arr, err := load.ParseArrivals(*arrivals)
	if err != nil {
		return err
	}
	if len(openRates) > 0 && (*peer || *pprofURL != "") {
		return errors.New("--peer-mockin and --pprof-url go with the closed loop: run them without --rate")
	}
	pw, err := os.ReadFile(*passwordFile)
	if err != nil {
		return fmt.Errorf("--password-file: %w", err)
	}
	client, err := psClient(u.Hostname(), *psAddr, *psCA)
	if err != nil {
		return err
	}
	// One kept connection per agent: a new TLS handshake per request
	// would be measured instead of the PS.
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = *agents
	p, err := startProvider(*state, "", "", false)
	if err != nil {
		return err
	}
	defer p.Close()
	if *dbLabel == "" {
		*dbLabel = "sqlite"
		if *pgDB != "" || *pgURL != "" {
			*dbLabel = "postgres"
		}
	}
	cfg := load.Config{
		Target:   &load.Target{Issuer: strings.TrimSuffix(*psURL, "/"), Client: client, AP: p.main, Resource: p.resource},
		Username: *username, Password: strings.TrimRight(string(pw), "\r\n"),
		Agents: *agents, Duration: *duration, Warmup: *warmup, FloorDuration: *floor,
		Rates: openRates, Arrivals: arr, Drain: *drain,
		PSPid: *pid, PGDatabase: *pgDB, PGURL: *pgURL, Database: *dbLabel, StoredMissions: *stored,
		Log: func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) },
	}
	if *peer {
		cfg.MockinDir = *mockinDir
	}
	if *pprofURL != "" {
		cfg.Profile, cfg.ProfileName = &load.Profiler{URL: strings.TrimSuffix(*pprofURL, "/"), Dir: *profileDir}, *profileName
	}
	rep, err := load.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.Text())
	if cfg.Profile != nil {
		fmt.Fprintf(stdout, "profiles of the exchange phase: %s/%s-{cpu,allocs}.pprof (go tool pprof -top FILE)\n", *profileDir, *profileName)
	}
	if *report != "" {
		if err := rep.AppendRow(*report); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "row appended to %s\n", *report)
	}
	if n := rep.Errors(); n > 0 {
		return fmt.Errorf("%w: %d requests failed under load", errFailed, n)
	}
	return nil
}
