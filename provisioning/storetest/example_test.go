package storetest_test

import (
	"fmt"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/provisioning/storetest"
)

// Fill sets every field of a record, at every depth, so a store's round trip
// is checked on all of them; Secrets lists what must never be stored in
// plaintext. A store's own test runs the whole suite with storetest.Run.
func ExampleFill() {
	r, err := storetest.Fill(amt.UUID{1}, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(r.History), len(r.Session.Users), r.Agent != nil)
	fmt.Println(len(storetest.Secrets(r)), "secrets")
	// Output:
	// 2 2 true
	// 14 secrets
}
