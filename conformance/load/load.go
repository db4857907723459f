package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Config is one load run.
type Config struct {
	Target *Target
	// Username and Password log the person in who approves the agents.
	Username, Password string
	// Agents is how many agents run at once; Duration how long each
	// measured phase lasts (after Warmup).
	Agents           int
	Duration, Warmup time.Duration
	// FloorDuration is how long each primitive of the floor is timed.
	FloorDuration time.Duration
	// Rates, when set, replace the closed loop with an open loop at each
	// rate in turn (exchanges per second, spaced by Arrivals), Agents
	// being the pool of agents an arrival may take (OpenLoop); the peer
	// is not run. Drain is how long sends still in flight after the last
	// arrival may take to answer.
	Rates    []float64
	Arrivals Arrivals
	Drain    time.Duration
	// PSPid is the PS's process id for its CPU and RSS (0: not reported).
	PSPid int
	// PGDatabase names the PS's PostgreSQL database, whose backends' CPU
	// is reported ("" for none, e.g. SQLite).
	PGDatabase string
	// PGURL, when set, reaches that database for PostgreSQL's cumulative
	// statistics around each phase (PGStats).
	PGURL string
	// Database labels the row: postgres or sqlite.
	Database string
	// StoredMissions labels the row: the missions seeded into the PS's
	// database besides the agents' own.
	StoredMissions int
	// MockinDir, when set, runs the peer from this directory
	// (conformance/interop/node) on its person token endpoint.
	MockinDir string
	// PeerClient reaches the peer (plain HTTP on loopback).
	PeerClient *http.Client
	// Profile, when set, captures the server's CPU and allocation
	// profiles over the exchange phase, named ProfileName.
	Profile     *Profiler
	ProfileName string
	// Log receives progress lines (may be nil).
	Log func(format string, args ...any)
}

// Phase is one measured phase: the load's own figures and what the server
// process spent meanwhile.
type Phase struct {
	Stats
	// Requests per operation (2 for an exchange).
	PerOp int
	// CPU is the server process's CPU during the phase (0: unknown);
	// PGCPU that of the database's PostgreSQL backends.
	CPU, PGCPU time.Duration
	PGBackends int
	// LoadCPU is this process's CPU during the phase: the load
	// generator's own (its agents signing and verifying, its TLS), on the
	// same cores as the server.
	LoadCPU time.Duration
	// PG is PostgreSQL's statistics over the phase (nil: not read).
	PG *PGStats
	// PGWaits is what the PS's PostgreSQL backends were seen waiting for
	// (sampled; nil without the statistics).
	PGWaits *PGWaits
	// RSS is the server's resident set after the phase, PeakRSS the
	// largest it has been since the server started.
	RSS, PeakRSS int64
	// Written is what the server handed to write system calls during the
	// phase (its WAL and checkpoints on SQLite, its responses, its logs).
	Written int64
	// ProfileErr is why the phase's profiles were not written.
	ProfileErr error
	// Waits is the PS's own breakdown over the phase (nil: not read,
	// e.g. the peer's phase).
	Waits *Waits
	// Rate is the open loop's offered exchanges per second (0: a closed
	// loop), spaced by Arrivals.
	Rate     float64
	Arrivals Arrivals
}

// RequestsPerSecond counts server requests.
func (p Phase) RequestsPerSecond() float64 { return p.PerSecond() * float64(p.PerOp) }

// CPUPerOp is the server's CPU per successful operation.
func (p Phase) CPUPerOp() time.Duration { return perOp(p.CPU, p.Ops) }

// LoadCPUPerOp is the load generator's CPU per successful operation.
func (p Phase) LoadCPUPerOp() time.Duration { return perOp(p.LoadCPU, p.Ops) }

// PGCPUPerOp is PostgreSQL's CPU per successful operation.
func (p Phase) PGCPUPerOp() time.Duration { return perOp(p.PGCPU, p.Ops) }

func perOp(d time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return d / time.Duration(n)
}

// Report is the outcome of a run.
type Report struct {
	Date     time.Time
	Database string
	Agents   int
	// StoredMissions is Config.StoredMissions.
	StoredMissions int
	Floor          Floor
	// Exchange is the three-party exchange against the PS. StartRSS is
	// the PS's resident set before the run touched it, IdleRSS before any
	// load phase (after the set-up's logins and approvals), SetupPeakRSS
	// the largest it was until then (the logins' password hashes).
	Exchange                        Phase
	StartRSS, IdleRSS, SetupPeakRSS int64
	// PersonPS and PersonPeer are the person token endpoint alone, the
	// PS's and the peer's, when the peer ran. PersonPS names the agent's
	// mission (a decision at the mission's decision point each);
	// PersonPlain is the PS answering what the peer answers: no mission.
	PersonPS, PersonPlain, PersonPeer *Phase
	// Open are the open-loop phases, one per Config.Rates, instead of
	// Exchange.
	Open []Phase
}

// Errors counts failed operations across every phase.
func (r *Report) Errors() int {
	n := r.Exchange.Errors
	for _, p := range []*Phase{r.PersonPS, r.PersonPlain, r.PersonPeer} {
		if p != nil {
			n += p.Errors
		}
	}
	return n
}

// CPURatio is the floor's CPU per exchange over the PS's (target ≥ 0.5).
func (r *Report) CPURatio() float64 {
	if c := r.Exchange.CPUPerOp(); c > 0 {
		return float64(r.Floor.Exchange()) / float64(c)
	}
	return 0
}

// ThroughputRatio is exchanges per second over what the floor allows on
// the same cores (the load generator shares them).
func (r *Report) ThroughputRatio() float64 {
	if f := r.Floor.PerSecond(r.Floor.Exchange()); f > 0 {
		return r.Exchange.PerSecond() / f
	}
	return 0
}

// Run sets the agents up, measures the floor, and drives the phases.
func Run(ctx context.Context, c Config) (*Report, error) {
	logf := c.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	t := c.Target
	var startRSS int64
	if c.PSPid > 0 {
		startRSS, _ = ProcRSS(c.PSPid)
	}
	if err := t.discover(ctx); err != nil {
		return nil, err
	}
	person, err := Login(ctx, t.Client, t.Issuer, c.Username, c.Password)
	if err != nil {
		return nil, err
	}
	logf("setting up %d agents (binding, mission, consent) as %s", c.Agents, c.Username)
	agents, err := setupAll(ctx, t, person, c.Agents)
	if err != nil {
		return nil, err
	}
	rep := &Report{Date: time.Now().UTC(), Database: c.Database, Agents: c.Agents, StoredMissions: c.StoredMissions, StartRSS: startRSS}
	if c.PSPid > 0 {
		rep.IdleRSS, _ = ProcRSS(c.PSPid)
		rep.SetupPeakRSS, _ = ProcPeakRSS(c.PSPid)
	}
	logf("crypto floor: %s per primitive", c.FloorDuration)
	rep.Floor = MeasureFloor(c.FloorDuration)

	exchange := func(ctx context.Context, w int) error { return t.Exchange(ctx, agents[w]) }
	if len(c.Rates) > 0 {
		for _, rate := range c.Rates {
			logf("three-party exchange, open loop: %.0f/s (%s arrivals), %d agents in the pool, %s", rate, c.Arrivals, c.Agents, c.Duration)
			ol := OpenLoop{Agents: c.Agents, Rate: rate, Arrivals: c.Arrivals, Drain: c.Drain}
			p := c.phase(ctx, c.PSPid, c.PGDatabase, 2, func(ctx context.Context, d time.Duration, op func(context.Context, int) error) Stats {
				ol.Duration = d
				return ol.Drive(ctx, op)
			}, exchange, t, nil)
			p.Rate, p.Arrivals = rate, c.Arrivals
			rep.Open = append(rep.Open, p)
		}
		return rep, nil
	}
	logf("three-party exchange: %d agents, %s", c.Agents, c.Duration)
	rep.Exchange = c.phase(ctx, c.PSPid, c.PGDatabase, 2, c.closedLoop, exchange, t, c.Profile)
	if rep.Exchange.ProfileErr != nil {
		return rep, rep.Exchange.ProfileErr
	}

	if c.MockinDir == "" {
		return rep, nil
	}
	peer, err := StartMockin(ctx, c.MockinDir, t.AP)
	if err != nil {
		return rep, err
	}
	defer peer.Close()
	logf("person token endpoint: the PS, then mockin at %s", peer.URL)
	ps := c.phase(ctx, c.PSPid, c.PGDatabase, 1, c.closedLoop, func(ctx context.Context, w int) error {
		_, err := t.PersonToken(ctx, agents[w], nil)
		return err
	}, t, nil)
	rep.PersonPS = &ps
	logf("person token endpoint without a mission: the person consents once for each agent")
	for _, a := range agents {
		if _, err := t.PlainPersonToken(ctx, a, person); err != nil {
			return rep, fmt.Errorf("consent without a mission for %s: %w", a.ID, err)
		}
	}
	plain := c.phase(ctx, c.PSPid, c.PGDatabase, 1, c.closedLoop, func(ctx context.Context, w int) error {
		_, err := t.PlainPersonToken(ctx, agents[w], nil)
		return err
	}, t, nil)
	rep.PersonPlain = &plain
	pc := c.PeerClient
	if pc == nil {
		pc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: c.Agents}}
	}
	mk := c.phase(ctx, peer.Pid(), "", 1, c.closedLoop, func(ctx context.Context, w int) error {
		return peer.PersonToken(ctx, pc, agents[w], t.Resource.Issuer())
	}, nil, nil)
	rep.PersonPeer = &mk
	return rep, nil
}

// driver runs op for d, closed or open loop.
type driver func(ctx context.Context, d time.Duration, op func(context.Context, int) error) Stats

// closedLoop is every agent sending its next operation when the last
// is answered.
func (c Config) closedLoop(ctx context.Context, d time.Duration, op func(context.Context, int) error) Stats {
	return Drive(ctx, c.Agents, d, op)
}

// phase warms up, then drives op for Duration while
// measuring the server process pid and the PostgreSQL backends of db,
// and the PS's own wait counters when ps is set, and profiling it when
// prof is set.
func (c Config) phase(ctx context.Context, pid int, db string, perOp int, drive driver, op func(context.Context, int) error, ps *Target, prof *Profiler) Phase {
	if c.Warmup > 0 {
		drive(ctx, c.Warmup, op)
	}
	// The statistics connection is closed before the backends' CPU is
	// read, so it is not counted.
	var stats0 *PGStats
	if db != "" && c.PGURL != "" {
		stats0, _ = PGSnapshot(ctx, c.PGURL)
	}
	var waits0 *Waits
	if ps != nil {
		waits0 = ps.ScrapeWaits(ctx)
	}
	cpu0, _ := ProcCPU(pid)
	wrote0, _ := ProcWritten(pid)
	var pg0 time.Duration
	if db != "" {
		pg0, _ = PostgresCPU(db)
	}
	var profWait func() error
	if prof != nil {
		profWait = prof.Start(ctx, c.ProfileName, c.Duration)
	}
	var stopWaits func() *PGWaits
	if stats0 != nil {
		stopWaits = SamplePGWaits(ctx, c.PGURL, pgWaitEvery)
	}
	load0 := ProcessCPU()
	s := drive(ctx, c.Duration, op)
	p := Phase{Stats: s, PerOp: perOp, LoadCPU: ProcessCPU() - load0}
	if stopWaits != nil {
		p.PGWaits = stopWaits()
	}
	if profWait != nil {
		p.ProfileErr = profWait()
	}
	if pid > 0 {
		if cpu1, ok := ProcCPU(pid); ok {
			p.CPU = cpu1 - cpu0
		}
		if wrote1, ok := ProcWritten(pid); ok {
			p.Written = wrote1 - wrote0
		}
		p.RSS, _ = ProcRSS(pid)
		p.PeakRSS, _ = ProcPeakRSS(pid)
	}
	if db != "" {
		pg1, n := PostgresCPU(db)
		p.PGCPU, p.PGBackends = max(pg1-pg0, 0), n
	}
	if waits0 != nil {
		if waits1 := ps.ScrapeWaits(ctx); waits1 != nil {
			p.Waits = waits1.Sub(waits0)
		}
	}
	if stats0 != nil {
		if stats1, err := PGSnapshot(ctx, c.PGURL); err == nil {
			p.PG = stats1.Sub(stats0)
		}
	}
	return p
}

// pgWaitEvery is how often PostgreSQL's backends are sampled for waits:
// often enough for a 10 s phase to see a millisecond's waits per
// exchange, rarely enough to cost the load little.
const pgWaitEvery = 20 * time.Millisecond

// setupAll sets n agents up, a few at a time, named for this run.
func setupAll(ctx context.Context, t *Target, p *Person, n int) ([]*Agent, error) {
	run := make([]byte, 4)
	_, _ = rand.Read(run)
	prefix := "load-" + hex.EncodeToString(run)
	agents := make([]*Agent, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			agents[i], errs[i] = t.Setup(ctx, p, fmt.Sprintf("%s-%d", prefix, i))
		})
	}
	wg.Wait()
	return agents, errors.Join(errs...)
}

// Text is the human-readable report.
func (r *Report) Text() string {
	var b strings.Builder
	f := r.Floor
	fmt.Fprintf(&b, "crypto floor (%d cores): Ed25519 verify %s, sign %s CPU; one exchange (%d verifications, %d signatures) %s = %.0f exchanges/s\n",
		f.Cores, us(f.Verify), us(f.Sign), PersonVerifies+AuthVerifies, PersonSigns+AuthSigns, us(f.Exchange()), f.PerSecond(f.Exchange()))
	if r.StoredMissions > 0 {
		fmt.Fprintf(&b, "stored missions: %d seeded besides the agents' own; PS RSS at start %s\n", r.StoredMissions, mb(r.StartRSS))
	}
	for _, e := range r.Open {
		fmt.Fprintf(&b, "three-party exchange, open loop, %s, %d agents in the pool: offered %.0f/s (%s), %d arrivals: %.0f exchanges/s answered, latency from the intended start p50 %s p95 %s p99 %s (p99 < 25 ms: %s), %d dropped (no free agent), %d late, %d errors\n",
			r.Database, r.Agents, e.Rate, e.Arrivals, e.Stats.Arrivals, e.PerSecond(), ms(e.P50), ms(e.P95), ms(e.P99),
			yesNo(e.P99 < TargetP99), e.Dropped, e.Late, e.Errors)
		r.details(&b, e, 0)
	}
	if len(r.Open) > 0 {
		return b.String()
	}
	e := r.Exchange
	fmt.Fprintf(&b, "three-party exchange, %s, %d agents: %.0f exchanges/s (%.0f PS req/s), latency p50 %s p95 %s p99 %s, %d errors\n",
		r.Database, r.Agents, e.PerSecond(), e.RequestsPerSecond(), ms(e.P50), ms(e.P95), ms(e.P99), e.Errors)
	r.details(&b, e, e.PerSecond())
	if r.PersonPS != nil && r.PersonPeer != nil {
		ps, pe := r.PersonPS, r.PersonPeer
		fmt.Fprintf(&b, "person token endpoint, %d agents: PS %.0f req/s (p99 %s, %d errors, CPU %s/req), mockin %.0f req/s (p99 %s, %d errors, CPU %s/req): PS/mockin %.2f×\n",
			r.Agents, ps.PerSecond(), ms(ps.P99), ps.Errors, us(ps.CPUPerOp()), pe.PerSecond(), ms(pe.P99), pe.Errors, us(pe.CPUPerOp()), r.PeerRatio())
		if pl := r.PersonPlain; pl != nil {
			fmt.Fprintf(&b, "person token endpoint without a mission (as mockin's), %d agents: PS %.0f req/s (p99 %s, %d errors, CPU %s/req): PS/mockin %.2f×\n",
				r.Agents, pl.PerSecond(), ms(pl.P99), pl.Errors, us(pl.CPUPerOp()), r.PlainPeerRatio())
		}
		if budget, ok := r.PSBudget(PeerTarget); ok {
			f := r.Floor
			fmt.Fprintf(&b, "  the load generator's own CPU per request: %s against the PS (%s without a mission), %s against mockin. "+
				"%.0f× mockin is %.0f req/s: on %d cores that leaves the PS %s of CPU per request without a mission, "+
				"against a crypto floor of %s (%d verifications, %d signature)\n",
				us(ps.LoadCPUPerOp()), us(r.PersonPlain.LoadCPUPerOp()), us(pe.LoadCPUPerOp()),
				PeerTarget, PeerTarget*pe.PerSecond(), f.Cores, us(budget), us(f.Cost(PersonVerifies, PersonSigns)), PersonVerifies, PersonSigns)
		}
		if pe.FirstError != nil {
			fmt.Fprintf(&b, "  mockin's first error: %v\n", pe.FirstError)
		}
	}
	return b.String()
}

// TargetP99 is issue 12's latency target.
const TargetP99 = 25 * time.Millisecond

// details are the lines under a phase's headline: its first error, the
// PS's and PostgreSQL's CPU, and the PS's waits; closed is a closed
// loop's throughput, for Little's law (0 for an open loop).
func (r *Report) details(b *strings.Builder, e Phase, closed float64) {
	f := r.Floor
	if e.FirstError != nil {
		fmt.Fprintf(b, "  first error: %v\n", e.FirstError)
	}
	if e.CPU > 0 {
		fmt.Fprintf(b, "  PS CPU %s per exchange = %.1f× the floor (ratio floor/PS %.2f, target ≥ 0.5); throughput/floor %.2f\n",
			us(e.CPUPerOp()), float64(e.CPUPerOp())/float64(f.Exchange()), float64(f.Exchange())/float64(e.CPUPerOp()), e.PerSecond()/f.PerSecond(f.Exchange()))
		fmt.Fprintf(b, "  PS RSS idle %s (peak during set-up %s), after load %s (peak since start %s)\n", mb(r.IdleRSS), mb(r.SetupPeakRSS), mb(e.RSS), mb(e.PeakRSS))
		if e.Written > 0 && e.Ops > 0 {
			fmt.Fprintf(b, "  PS writes %.1f kB per exchange (write system calls: on SQLite its WAL and checkpoints; responses; logs)\n", float64(e.Written)/float64(e.Ops)/1000)
		}
	}
	if e.PGBackends > 0 {
		fmt.Fprintf(b, "  PostgreSQL CPU %s per exchange (%d backends) = %.2f× the PS's\n", us(e.PGCPUPerOp()), e.PGBackends,
			float64(e.PGCPU)/float64(max(e.CPU, 1)))
	} else if r.Database == "postgres" {
		b.WriteString("  PostgreSQL CPU: not read (no backend of the database in this machine's /proc)\n")
	}
	if e.PG != nil {
		fmt.Fprintf(b, "  PostgreSQL statistics: %s\n", e.PG.Summary(e.Ops))
	}
	if e.PGWaits != nil {
		fmt.Fprintf(b, "  PostgreSQL waits per exchange (backends seen waiting × the interval): %s\n", e.PGWaits.Summary(e.Ops))
	}
	if e.Waits != nil {
		fmt.Fprintf(b, "  waits (PS /metrics) %s\n", e.Waits.Summary(e.Ops, r.Agents, closed))
	}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// PeerRatio is the PS's person token throughput over the peer's.
func (r *Report) PeerRatio() float64 { return r.overPeer(r.PersonPS) }

// PlainPeerRatio is PlainPersonToken's throughput over the peer's: the
// same request on both (no mission).
func (r *Report) PlainPeerRatio() float64 { return r.overPeer(r.PersonPlain) }

// PeerTarget is issue 12's throughput target against mockin's person
// token endpoint.
const PeerTarget = 5.0

// PSBudget is the CPU per request the PS could spend, without a mission,
// and still answer times the peer's throughput in this run: the load
// generator shares the cores, so they carry cores ÷ (the PS's CPU + the
// load generator's) per request. It may be negative (not even a PS that
// cost nothing would). ok is false when the phases did not run or the
// load generator's CPU was not measured.
func (r *Report) PSBudget(times float64) (budget time.Duration, ok bool) {
	pl, pe := r.PersonPlain, r.PersonPeer
	if pl == nil || pe == nil || pl.LoadCPUPerOp() <= 0 || pe.PerSecond() == 0 || r.Floor.Cores == 0 {
		return 0, false
	}
	perRequest := time.Duration(float64(r.Floor.Cores) * float64(time.Second) / (times * pe.PerSecond()))
	return perRequest - pl.LoadCPUPerOp(), true
}

// overPeer is ps's throughput over the peer's, 0 when either did not run.
func (r *Report) overPeer(ps *Phase) float64 {
	if ps == nil || r.PersonPeer == nil || r.PersonPeer.PerSecond() == 0 {
		return 0
	}
	return ps.PerSecond() / r.PersonPeer.PerSecond()
}

// RowHeader is the table the rows of Row go under in docs/performance.md
// (the second table: the first one's rows had no stored missions, start
// RSS or PostgreSQL transactions).
const RowHeader = "| date (UTC) | cores | db | stored missions | agents | exchanges/s | PS req/s | p50 / p95 / p99 ms | errors | PS CPU/exchange | floor/exchange | floor/PS | PG CPU/exchange | PG xacts/exchange | RSS start / idle / loaded MB | person-token req/s PS / mockin |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

// Row is the report as a row of RowHeader.
func (r *Report) Row() string {
	e := r.Exchange
	peer := "—"
	if r.PersonPS != nil && r.PersonPeer != nil {
		peer = fmt.Sprintf("%.0f / %.0f (%.1f×)", r.PersonPS.PerSecond(), r.PersonPeer.PerSecond(), r.PeerRatio())
	}
	pg, xacts := "—", "—"
	if e.PGBackends > 0 {
		pg = us(e.PGCPUPerOp())
	}
	if e.PG != nil && e.Ops > 0 {
		xacts = fmt.Sprintf("%.1f", float64(e.PG.Xacts)/float64(e.Ops))
	}
	return fmt.Sprintf("| %s | %d | %s | %d | %d | %.0f | %.0f | %.1f / %.1f / %.1f | %d | %s | %s | %.2f | %s | %s | %.0f / %.0f / %.0f | %s |",
		r.Date.Format("2006-01-02 15:04"), r.Floor.Cores, r.Database, r.StoredMissions, r.Agents, e.PerSecond(), e.RequestsPerSecond(),
		msf(e.P50), msf(e.P95), msf(e.P99), r.Errors(), us(e.CPUPerOp()), us(r.Floor.Exchange()), r.CPURatio(), pg, xacts,
		float64(r.StartRSS)/(1<<20), float64(r.IdleRSS)/(1<<20), float64(e.RSS)/(1<<20), peer)
}

// OpenRowHeader is the table the open-loop rows go under (OpenRows).
const OpenRowHeader = "| date (UTC) | cores | db | agents (pool) | arrivals | offered/s | exchanges/s | p50 / p95 / p99 ms from the intended start | p99 < 25 ms | dropped / late | errors | PS CPU/exchange | PG CPU/exchange | writer turns / held per exchange | RSS start / idle / loaded MB |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

// OpenRows are the open-loop phases as rows of OpenRowHeader.
func (r *Report) OpenRows() []string {
	rows := make([]string, 0, len(r.Open))
	for _, e := range r.Open {
		pg, writer := "—", "—"
		if e.PGBackends > 0 {
			pg = us(e.PGCPUPerOp())
		}
		if w := e.Waits; w != nil && e.Ops > 0 && w.WriterTurns > 0 {
			writer = fmt.Sprintf("%.1f / %s", float64(w.WriterTurns)/float64(e.Ops), ms(w.WriterHeld/time.Duration(e.Ops)))
		}
		rows = append(rows, fmt.Sprintf("| %s | %d | %s | %d | %s | %.0f | %.0f | %s / %s / %s | %s | %d / %d | %d | %s | %s | %s | %.0f / %.0f / %.0f |",
			r.Date.Format("2006-01-02 15:04"), r.Floor.Cores, r.Database, r.Agents, e.Arrivals, e.Rate, e.PerSecond(),
			cell(e.P50), cell(e.P95), cell(e.P99), yesNo(e.P99 < TargetP99), e.Dropped, e.Late, e.Errors, us(e.CPUPerOp()), pg, writer,
			float64(r.StartRSS)/(1<<20), float64(r.IdleRSS)/(1<<20), float64(e.RSS)/(1<<20)))
	}
	return rows
}

// cell is a latency in a row's milliseconds.
func cell(d time.Duration) string {
	if d == Unserved {
		return "∞"
	}
	return fmt.Sprintf("%.1f", msf(d))
}

// AppendRow appends the report's rows to the file at path: the closed
// loop's Row under RowHeader, or the open loop's OpenRows under
// OpenRowHeader, adding the header when the file does not hold it yet.
func (r *Report) AppendRow(path string) error {
	header, rows := RowHeader, []string{r.Row()}
	if len(r.Open) > 0 {
		header, rows = OpenRowHeader, r.OpenRows()
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(path, []byte(withRows(string(old), header, rows)), 0o644)
}

// withRows is doc with rows added at the end of the table under header
// (the file's other tables and text stay where they are), or with the
// table appended when doc has no such header.
func withRows(doc, header string, rows []string) string {
	add := strings.Join(rows, "\n") + "\n"
	i := strings.Index(doc, header+"\n")
	if i < 0 {
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		return doc + "\n" + header + "\n" + add
	}
	end := i + len(header) + 1
	for end < len(doc) && doc[end] == '|' {
		nl := strings.IndexByte(doc[end:], '\n')
		if nl < 0 {
			doc, end = doc+"\n", len(doc)+1
			break
		}
		end += nl + 1
	}
	return doc[:end] + add + doc[end:]
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
func ms(d time.Duration) string {
	if d == Unserved {
		return "∞ (unserved)"
	}
	return fmt.Sprintf("%.1f ms", msf(d))
}
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(n int64) string           { return fmt.Sprintf("%.0f MB", float64(n)/(1<<20)) }
