package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/mission/governance"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/lifecycle"
)

// maxBundleBytes bounds what `evidence verify` reads: a mission's chain is
// bounded by the PS's tables, and a bundle far beyond that is not one.
const maxBundleBytes = 256 << 20

// Exit codes of `evidence verify`: 0 the bundle verifies, 1 it does not
// (or cannot be read), 2 a usage error.
const (
	exitVerified = 0
	exitBad      = 1
	exitUsage    = 2
)

// evidenceVerify is `aauth-ps evidence verify BUNDLE [--jwks FILE]
// [--tsa-roots FILE] [--json]`: it recomputes every anchor, chain link and
// chain-head signature of an exported bundle offline — no configuration,
// database or network — checks each chain head's RFC 3161 time-stamp
// token, and names the first bad record or token. The keys are the
// bundle's own jwks unless --jwks gives the PS's keys obtained elsewhere
// (an auditor's copy); with --tsa-roots the TSA's certificate must chain
// to one of those roots.
func evidenceVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("aauth-ps evidence verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jwksFile := fs.String("jwks", "", "verify chain heads with the keys in this JWKS file instead of the bundle's")
	tsaRoots := fs.String("tsa-roots", "", "PEM file of the roots the time-stamping authority's certificate must chain to")
	asJSON := fs.Bool("json", false, "print the verifier's report as JSON")
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(positional) != 1 {
		fmt.Fprintln(stderr, "usage: aauth-ps evidence verify BUNDLE [--jwks FILE] [--tsa-roots FILE] [--json]")
		return exitUsage
	}
	rep, err := verifyBundleFile(positional[0], *jwksFile, *tsaRoots)
	if err != nil {
		fmt.Fprintln(stderr, "aauth-ps evidence verify:", err)
		return exitBad
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else if rep.OK {
		fmt.Fprintf(stdout, "OK: %d records, %d signed chain heads (signed through seq %d); every anchor and link recomputed; %d decisions replayed",
			rep.Records, rep.SignedHeads, rep.LastSignedSeq, rep.Replayed)
		if rep.NotReplayed > 0 {
			fmt.Fprintf(stdout, " (%d recorded without their input, not replayed)", rep.NotReplayed)
		}
		fmt.Fprintln(stdout)
		printAnchored(stdout, rep, *tsaRoots != "")
	} else {
		where := "the mission blob or its anchored objects"
		if rep.FirstBad >= 0 {
			where = fmt.Sprintf("%s chain record %d", rep.Chain, rep.FirstBad)
		}
		fmt.Fprintf(stdout, "FAILED at %s: %s\n", where, rep.Problem)
	}
	if !rep.OK {
		return exitBad
	}
	return exitVerified
}

// printAnchored says which signed heads a verified time-stamp token
// anchors, and when.
func printAnchored(w io.Writer, rep evidence.Report, withRoots bool) {
	fmt.Fprintf(w, "%d of %d signed chain heads anchored with an RFC 3161 time-stamp", len(rep.Anchored), rep.SignedHeads)
	switch {
	case len(rep.Anchored) == 0:
		fmt.Fprintln(w)
		return
	case withRoots:
		fmt.Fprintln(w, " (the TSA's certificate chains to --tsa-roots):")
	default:
		fmt.Fprintln(w, " (the TSA's certificate chain not checked: give --tsa-roots):")
	}
	for _, a := range rep.Anchored {
		fmt.Fprintf(w, "  chain head %d: stamped %s by %s\n", a.Seq, a.GenTime, a.TSA)
	}
}

// verifyBundleFile reads and verifies a bundle file.
func verifyBundleFile(path, jwksFile, tsaRootsFile string) (evidence.Report, error) {
	raw, err := readBounded(path)
	if err != nil {
		return evidence.Report{}, err
	}
	var b evidence.Bundle
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return evidence.Report{}, fmt.Errorf("%s is not an evidence bundle: %w", path, err)
	}
	jwks := []byte(b.JWKS)
	if jwksFile != "" {
		if jwks, err = readBounded(jwksFile); err != nil {
			return evidence.Report{}, err
		}
	}
	var keys evidence.HeadVerifier
	if len(jwks) > 0 {
		ks, err := evidence.ParseKeySet(jwks)
		if err != nil {
			return evidence.Report{}, err
		}
		keys = ks
	}
	var roots *x509.CertPool
	if tsaRootsFile != "" {
		pem, err := readBounded(tsaRootsFile)
		if err != nil {
			return evidence.Report{}, err
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return evidence.Report{}, errors.New(tsaRootsFile + " holds no PEM certificate")
		}
	}
	// Without keys, Verify still checks every anchor and link and fails at
	// the first signed head it cannot check.
	return evidence.VerifyWith(b, keys, roots), nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxBundleBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxBundleBytes {
		return nil, errors.New(path + " is larger than any evidence bundle")
	}
	return raw, nil
}

// missionsLifecycle is `missions suspend|resume|revoke S256`: the
// operator acts as an administrator through the lifecycle service the web
// UI and mission control use (same rules, evidence, log and cascades).
func (m *manager) missionsLifecycle(ctx context.Context, verb, s256 string, hold time.Duration) error {
	if hold < 0 || hold > governance.MaxHoldTimeout {
		return fmt.Errorf("--hold must be between 1s and %s", governance.MaxHoldTimeout)
	}
	by := lifecycle.Actor{Kind: governance.ByAdmin, ID: "cli"}
	var res *lifecycle.Result
	var err error
	// The audit row commits with the transition, as in the UI.
	var rec audit.Change
	write := func(cx context.Context, tx audit.Store, t *governance.Transition) error {
		rec = audit.Change{By: audit.Actor{Kind: audit.ActorCLI}, Action: "mission." + string(t.To), Target: "mission:" + s256,
			Message: "mission lifecycle changed", Detail: map[string]any{"from": t.From, "to": t.To, "reason": t.Reason}}
		return m.a.Audit.Write(cx, tx, rec)
	}
	switch verb {
	case "suspend":
		res, err = m.a.Lifecycle.Suspend(ctx, s256, by, hold, write)
	case "resume":
		res, err = m.a.Lifecycle.Resume(ctx, s256, by, write)
	case "revoke":
		res, err = m.a.Lifecycle.Terminate(ctx, s256, mission.ReasonRevoked, by, write)
	}
	if errors.Is(err, lifecycle.ErrNotFound) {
		return fmt.Errorf("no mission %q", s256)
	}
	if err != nil {
		return err
	}
	t := res.Transition
	rec.Detail["released"] = res.Released // known once committed: in the log line only
	m.a.Audit.Logged(ctx, rec)
	fields := map[string]any{"s256": s256, "from": t.From, "to": t.To, "released": res.Released}
	msg := fmt.Sprintf("mission %s: %s → %s", s256, t.From, t.To)
	if t.Reason != "" {
		fields["reason"] = t.Reason
		msg += " (" + t.Reason + ")"
	}
	if h := res.Mission.Hold; h != nil {
		fields["hold_until"] = h.Until.UTC()
		msg += "; new requests held until " + ts(h.Until)
	}
	if t.To == "active" {
		msg += fmt.Sprintf("; %d held requests released", res.Released)
	}
	return m.done(msg, fields)
}

// evidenceExport is `evidence export --mission S256 [--out FILE]`: the
// mission's evidence bundle, to stdout or FILE (written 0600, never
// over an existing file).
func (m *manager) evidenceExport(ctx context.Context, s256, out string) error {
	if s256 == "" {
		return errors.New("evidence export needs --mission S256")
	}
	b, err := m.a.Evidence.Bundle(ctx, s256)
	if errors.Is(err, lifecycle.ErrNotFound) {
		return fmt.Errorf("no mission %q", s256)
	}
	if err != nil {
		return err
	}
	raw, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	if out == "" {
		_, err = m.out.Write(raw)
		return err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	m.log.InfoContext(ctx, "evidence exported", "by", "cli", "mission", s256, "records", len(b.Records), "file", out)
	return m.done(fmt.Sprintf("wrote %s: %d records of mission %s", out, len(b.Records), s256),
		map[string]any{"s256": s256, "file": out, "records": len(b.Records)})
}
