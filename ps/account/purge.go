package account

import "context"

// Purge deletes what has expired: sessions past their absolute or idle
// expiry, passkey ceremonies, invites (redeemed or not) past their expiry,
// and login failures (and email changes, counted in the same table) older
// than the longer of their windows. It returns the number of rows deleted.
// Run it periodically; correctness never depends on it.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	now := s.now()
	return s.st.PurgeAccounts(ctx, now, now.Add(-max(s.opts.FailureWindow, EmailChangeWindow)))
}
