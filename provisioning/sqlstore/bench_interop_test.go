//go:build interop

package sqlstore_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/amtkit/amtkit/provisioning"
)

// BenchmarkInteropProvisioners provisions a fleet of 100 simulated devices
// per iteration, whose hellos reach every provisioner, and reports devices
// per second with one and with three provisioners on MemoryStore (one store
// shared in memory: the floor), SQLite (one file, a connection pool each) and
// PostgreSQL (one database, a connection pool each). The fleet, the
// provisioners and the database share the machine's cores, so the figure
// shows what the store costs per device, not how far provisioners scale out
// on separate hosts. Run it with
//
//	AMTKIT_POSTGRES_DSN=... go test -tags interop -run '^$' -bench InteropProvisioners -benchtime 3x ./provisioning/sqlstore/
func BenchmarkInteropProvisioners(b *testing.B) {
	const devices = 100
	// shared returns a way to open handles on one store's data, as separate
	// provisioner processes would.
	shared := map[string]func(b *testing.B) func() provisioning.Store{
		"memory": func(*testing.B) func() provisioning.Store {
			s := provisioning.NewMemoryStore()
			return func() provisioning.Store { return s }
		},
		"sqlite": func(b *testing.B) func() provisioning.Store {
			path := filepath.Join(b.TempDir(), "bench.db")
			return func() provisioning.Store { return openSQLite(b, path) }
		},
		"postgres": func(b *testing.B) func() provisioning.Store {
			dsn := pgSchema(b)
			return func() provisioning.Store { return openPostgres(b, dsn) }
		},
	}
	for _, kind := range []string{"memory", "sqlite", "postgres"} {
		for _, n := range []int{1, 3} {
			b.Run(fmt.Sprintf("store=%s/provisioners=%d", kind, n), func(b *testing.B) {
				var total time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					open := shared[kind](b)
					var handles []provisioning.Store
					for j := 0; j < n; j++ {
						handles = append(handles, open())
					}
					r := startFleetRun(b, fleetOptions{devices: devices, stores: handles, ttl: time.Minute})
					b.StartTimer()
					start := time.Now()
					r.sendHellos()
					deadline := time.Now().Add(time.Minute)
					for r.provisionedCount() < devices {
						if time.Now().After(deadline) {
							r.dump(handles[0])
							b.Fatalf("%d of %d devices provisioned after a minute", r.provisionedCount(), devices)
						}
						time.Sleep(2 * time.Millisecond)
					}
					total += time.Since(start)
					b.StopTimer()
					for j := range r.provs {
						r.stops[j]()
						<-r.served[j]
					}
					// PostgreSQL serves max_connections in all: each iteration's
					// pools close before the next opens its own.
					for _, h := range handles {
						if s, ok := h.(interface{ DB() *sql.DB }); ok {
							s.DB().Close()
						}
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(devices*b.N)/total.Seconds(), "devices/s")
			})
		}
	}
}

// provisionedCount counts the devices a provisioner reported Provisioned.
func (r *fleetRun) provisionedCount() int {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	return len(r.done)
}
