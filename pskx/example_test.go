package pskx_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
)

func ExampleParsePPS() {
	// Intel's published example pair.
	pid, _ := pskx.ParsePID("0000-037M")
	pps, _ := pskx.ParsePPS("nkld-g5dc-rrnq-e9yz-zijl-7lfl-vjed-69xj")
	fmt.Println(pid, pid.Compact())
	fmt.Println(pps) // a PPS never prints
	fmt.Println(pps.RevealGrouped())

	// A mistyped group is named (never quoted).
	_, err := pskx.ParsePPS("NKLD-G5DC-RRNR-E9YZ-ZIJL-7LFL-VJED-69XJ")
	fmt.Println(err)
	var fe *pskx.FormatError
	fmt.Println(errors.As(err, &fe), fe.Groups, errors.Is(err, pskx.ErrChecksum))
	// Output:
	// 0000-037M 0000037M
	// [REDACTED]
	// NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ
	// pskx: PPS group 3: check character does not match
	// true [3] true
}

func ExampleGenerateBatch() {
	pairs, err := pskx.GenerateBatch(nil, 3) // nil: crypto/rand
	if err != nil {
		panic(err)
	}
	for _, p := range pairs {
		_, errPID := pskx.ParsePID(p.PID.String())
		_, errPPS := pskx.ParsePPS(p.PPS.RevealGrouped())
		fmt.Println(len(p.PID.String()), len(p.PPS.RevealGrouped()), errPID == nil, errPPS == nil, amt.CheckPassword(p.MEBxPassword.Reveal()) == nil)
	}
	// Output:
	// 9 39 true true true
	// 9 39 true true true
	// 9 39 true true true
}

func ExampleMemoryStore() {
	ctx := context.Background()
	var store pskx.MemoryStore
	pps, _ := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	pid := pskx.MustParsePID("0000-037M")
	_ = store.Put(ctx, pskx.Pair{PID: pid, PPS: pps})

	// A PSK hello arrives with PID 0000037M.
	p, err := store.Lookup(ctx, pid)
	fmt.Println(err, p.PPS.Equal(pps))
	_ = store.MarkUsed(ctx, pid, amt.UUID{1})
	err = store.MarkUsed(ctx, pid, amt.UUID{2})
	fmt.Println(errors.Is(err, pskx.ErrPairUsed))
	unused, _ := pskx.CollectPairs(store.Pairs(ctx, pskx.PairFilter{Unused: true}))
	fmt.Println(len(unused))
	// Output:
	// <nil> true
	// true
	// 0
}
