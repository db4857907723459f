// Command aauth-conformance runs the AAuth Person Server conformance suite
// (package conformance/suite) against any PS over HTTPS.
//
// The PS must be able to fetch the suite's own agent provider, so the
// provider lives in a state directory (its CA, keys, address and host) and
// the PS is started once with the flags the provider prints:
//
//	aauth-conformance provider --listen 127.0.0.1:9443 --host ap.test --state DIR
//	  → --resolve ap.test=127.0.0.1:9443 … --trust-ca DIR/ca.pem --egress-allow 127.0.0.1/32
//
// Then, with the provider stopped (run starts it itself, from DIR):
//
//	aauth-conformance run --ps https://ps.example [--ps-addr host:port] [--ps-ca FILE]
//	    [--provider-state DIR] [--only SURFACE|PS-nnn,…] [--strict]
//	    [--approve browser|manual|cmd:COMMAND] [--report json|junit[:FILE]]
//
// run prints live progress per surface, the report and a per-surface
// table; it exits 1 when a MUST expectation fails (SHOULD and IMPL failures
// are warnings unless --strict). Usage and setup errors exit 2.
// `coverage` prints which PS-REQUIREMENTS rows have a check.
//
// load (package conformance/load) drives the same PS with many agents of
// the provider, measures it against the crypto floor and, with
// --peer-mockin, against @hellocoop/mockin; it exits 1 when a request
// failed (see docs/performance.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/aauth-ps/aauth-ps/conformance/suite"
)

// Provider defaults.
var defaultState = filepath.Join("data", "conformance-provider")

const (
	defaultListen = "127.0.0.1:9443"
	defaultHost   = "ap.test"
)

// errFailed: the run found failures (exit 1, the report says which).
var errFailed = errors.New("conformance checks failed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errFailed):
		fmt.Fprintln(os.Stderr, "aauth-conformance:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "aauth-conformance:", err)
		os.Exit(2)
	}
}

const usage = `usage:
  aauth-conformance provider [--listen 127.0.0.1:9443] [--host ap.test] [--state DIR]
      start the suite's agent provider, print the flags the PS under test
      needs, and serve until interrupted
  aauth-conformance run --ps https://ps.example [--ps-addr host:port] [--ps-ca FILE]
      [--provider-state DIR] [--only SURFACE|PS-nnn,...] [--strict]
      [--approve browser|manual|cmd:COMMAND] [--person-user NAME]
      [--report json|junit[:FILE]] [--json]
      start the provider from DIR and run the suite against the PS
  aauth-conformance load --ps https://ps.example --person NAME --password-file FILE
      [--ps-addr host:port] [--ps-ca FILE] [--provider-state DIR] [--agents 16]
      [--duration 10s] [--ps-pid PID] [--pg-database DB] [--peer-mockin] [--report FILE]
      N agents of the provider, each bound to the person and holding an
      approved mission, drive the three-party exchange; measures the crypto
      floor and (--peer-mockin) @hellocoop/mockin in the same run
  aauth-conformance list
      list the checks with their surfaces
  aauth-conformance coverage [--verbose]
      which PS-REQUIREMENTS rows have a check, per section and in total
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("a command is required")
	}
	switch args[0] {
	case "provider":
		return runProvider(ctx, args[1:], stdout, stderr)
	case "run":
		return runSuite(ctx, args[1:], stdout, stderr)
	case "load":
		return runLoad(ctx, args[1:], stdout, stderr)
	case "list":
		for _, c := range suite.Checks() {
			fmt.Fprintf(stdout, "%s  %-6s  %-13s  %s\n", c.ID, c.Level, suite.SurfaceOf(c), c.Name)
		}
		return nil
	case "coverage":
		return runCoverage(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("aauth-conformance "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func runProvider(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("provider", stderr)
	listen := fs.String("listen", "", "IP address and port to serve on, kept in the state (port 0 picks one); default the saved one, else "+defaultListen)
	host := fs.String("host", "", "the provider's DNS name, its issuer being https://HOST, kept in the state; default the saved one, else "+defaultHost)
	state := fs.String("state", defaultState, "directory keeping the provider's CA, keys and address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := startProvider(*state, *listen, *host, true)
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(stdout, "agent provider https://%s on %s (state %s)\n", p.set.Host, p.set.Listen, p.dir)
	fmt.Fprintln(stdout, "start the PS under test with these flags:")
	fmt.Fprintln(stdout, strings.Join(p.Flags(), " "))
	fmt.Fprintln(stdout, "serving until interrupted; stop it before `aauth-conformance run`, which starts it itself")
	<-ctx.Done()
	return nil
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
