// Package simfleet runs a simulated AMT fleet (amt/amtsim) in a process of its
// own and drives it from another over a line protocol on stdin/stdout, so that
// a provisioning engine's CPU, memory and goroutines can be measured alone.
// The fleet command (internal/cmd/fleet) and the provisioning benchmarks use
// it.
//
// Protocol: the fleet process prints one JSON line, a [Ready], once every
// device listens. It then reads one command per line and answers each with
// one JSON line:
//
//	hellos <host:port>   every device sends one hello there      → [HelloReport]
//	counters             the fleet's traffic counters            → [amtsim.Counters]
//	reset                zero the counters                        → {"ok":true}
//	stats                the fleet process's own CPU and memory   → [Stats]
//	quit                 stop the devices and exit (so does EOF)
//
// Every device listens on its own loopback address (127.a.b.c) on the
// standard ports 16993 and 16992, so an engine connects back to "<hello
// source>:16993" exactly as on a real network. With Floor set the process
// serves, instead of devices, two bare TLS listeners for an engine's crypto
// floor ([Floor]).
package simfleet
