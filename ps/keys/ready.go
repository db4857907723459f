package keys

import "context"

// Ready reports whether the PS can sign: an active key is decrypted and
// held (re-read from the database when its cache is older than
// RefreshInterval). It is the keys half of /readyz.
func (m *Manager) Ready(ctx context.Context) error {
	_, err := m.Active(ctx)
	return err
}
