package tokens_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/internal/cputime"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

func randomJTI(time.Time) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// BenchmarkRecordAuthTokenJTI (issue 12, finding 49): auth token records
// written 8 to a transaction, as commit groups write them, onto a table
// that already holds 20 000, with the jtis the PS issues (sorted by
// issuance) and with random ones as it used to. Each record's jti and
// parent_jti are indexed; the parent is the previous record's jti, as a
// person token issued just before would be. Besides the time it reports
// the WAL written per record (SQLite: the WAL file's growth, no
// checkpoint running; PostgreSQL: pg_stat_wal, the cluster's) and, on
// SQLite, whose engine runs in this process, the CPU per record.
func BenchmarkRecordAuthTokenJTI(b *testing.B) {
	const seed, group = 20_000, 8
	for _, backend := range storetest.Backends {
		for _, kind := range []struct {
			name string
			jti  func(time.Time) string
		}{{"random", randomJTI}, {"sorted", tokens.NewJTI}} {
			b.Run(backend.Name+"/"+kind.name, func(b *testing.B) {
				url := backend.NewMigratedURL(b)
				st := storetest.OpenURL(b, url, true)
				walBytes := func() int64 {
					if backend.Name == store.DialectSQLite {
						fi, err := os.Stat(strings.TrimPrefix(url, "sqlite:") + "-wal")
						if err != nil {
							b.Fatal(err)
						}
						return fi.Size()
					}
					var n int64
					storetest.Scan(b, st, &n, `SELECT wal_bytes::bigint FROM pg_stat_wal`)
					return n
				}
				ctx := b.Context()
				at := time.Now()
				parent := kind.jti(at)
				record := func(tx *store.Store) error {
					at = at.Add(time.Millisecond)
					jti := kind.jti(at)
					err := tx.RecordAuthToken(ctx, tokens.AuthRecord{JTI: jti, Aud: "https://resource.example", Sub: "sub",
						PersonID: "person", AgentIss: "https://agents.example", AgentSub: "agent", AgentTokenJTI: "agent-token",
						CnfThumbprint: "thumbprint", Scope: []string{"read"}, ParentJTI: parent, ResourceTokenJTI: "resource-token",
						IssuedAt: at, Exp: at.Add(time.Hour)})
					parent = jti
					return err
				}
				batch := func(n int) {
					if err := st.InTx(ctx, func(tx *store.Store) error {
						for range n {
							if err := record(tx); err != nil {
								return err
							}
						}
						return nil
					}); err != nil {
						b.Fatal(fmt.Errorf("record: %w", err))
					}
				}
				for range seed / 1000 {
					batch(1000)
				}
				wal0, cpu0 := walBytes(), cputime.Self()
				for b.Loop() {
					batch(group)
				}
				records := float64(b.N * group)
				b.ReportMetric(float64(b.Elapsed().Microseconds())/records, "µs/record")
				b.ReportMetric(float64(walBytes()-wal0)/records, "WAL-B/record")
				if backend.Name == store.DialectSQLite {
					b.ReportMetric(float64((cputime.Self()-cpu0).Microseconds())/records, "cpu-µs/record")
				}
			})
		}
	}
}
