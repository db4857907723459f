package app

import (
	"context"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/revocation"
)

// SettleRevocations waits, at most timeout, for the downstream revocations
// this process started (an agent revoked, a mission ended) to be
// delivered, and returns each recipient's worst outcome. A short-lived
// process (the command line) calls it before it exits, so no delivery is
// silently cut off; settled is false when the timeout came first, and the
// outcomes then still show "pending".
func (a *App) SettleRevocations(ctx context.Context, timeout time.Duration) (outcomes map[string]string, settled bool, err error) {
	if a.Revocation == nil {
		return nil, true, nil
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cascades, settled := a.Revocation.Settle(wctx)
	outcomes = map[string]string{}
	for _, id := range cascades {
		report, err := a.Revocation.Report(context.WithoutCancel(ctx), id)
		if err != nil {
			return nil, settled, err
		}
		for recipient, outcome := range report {
			if prev, ok := outcomes[recipient]; !ok || prev == revocation.OutcomeRevoked {
				outcomes[recipient] = outcome
			}
		}
	}
	return outcomes, settled, nil
}

// SettleStamps waits, at most timeout, for the time-stamp requests this
// process started for the chain heads it signed (a command's change),
// so that a command does not exit before its heads are anchored; a head
// left unanchored is asked for again by a server's sweep. It reports
// whether none is left in flight.
func (a *App) SettleStamps(ctx context.Context, timeout time.Duration) bool {
	if a.Stamps == nil {
		return true
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return a.Stamps.WaitIdle(wctx)
}
