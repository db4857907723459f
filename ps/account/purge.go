package account

import "context"

// Purge deletes what has expired: sessions past their absolute or idle
// expiry, passkey ceremonies, invites (redeemed or not) past their expiry,
// and login failures older than the failure window. It returns the number
// of rows deleted. Run it periodically; correctness never depends on it.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	now := s.now()
	stmts := []struct{ op, sql string }{
		{"purge sessions", `DELETE FROM sessions WHERE expires_at <= ? OR idle_expires_at <= ?`},
		{"purge passkey ceremonies", `DELETE FROM webauthn_ceremonies WHERE expires_at <= ?`},
		{"purge invites", `DELETE FROM invites WHERE expires_at <= ?`},
		{"purge login failures", `DELETE FROM login_attempts WHERE at <= ?`},
	}
	var total int64
	for i, st := range stmts {
		args := []any{now.Unix()}
		switch i {
		case 0:
			args = append(args, now.Unix())
		case 3:
			args = []any{now.Add(-s.opts.FailureWindow).Unix()}
		}
		res := s.db(ctx).Exec(st.sql, args...)
		if res.Error != nil {
			return total, dbErr(st.op, res.Error)
		}
		total += res.RowsAffected
	}
	return total, nil
}
