package seal_test

import (
	"context"
	"fmt"

	"github.com/amtkit/amtkit/seal"
)

// Seal a password for storage and rotate the key: the new key seals, the old
// one still opens what it sealed until everything is re-sealed.
func Example() {
	ctx := context.Background()
	// In production the key comes from the integrator's secret store; here a
	// fixed one keeps the example reproducible.
	old := seal.Key{ID: "2025-01", Secret: []byte("0123456789abcdef0123456789abcdef")}
	s, err := seal.NewAESGCM(seal.Keyring{Primary: old})
	if err != nil {
		panic(err)
	}
	aad := []byte("device 8c2f…/AdminPassword") // binds the envelope to its field
	env, _ := s.Seal(ctx, []byte("Adm1n!pass"), aad)
	id, _ := seal.KeyID(env)
	fmt.Println("sealed by", id)

	// Rotation: a new primary, the old key kept for opening.
	next := seal.Key{ID: "2026-01", Secret: []byte("fedcba9876543210fedcba9876543210")}
	s, _ = seal.NewAESGCM(seal.Keyring{Primary: next, Previous: []seal.Key{old}})
	pt, _ := s.Open(ctx, env, aad)
	env, _ = s.Seal(ctx, pt, aad)
	id, _ = seal.KeyID(env)
	fmt.Println("re-sealed by", id)

	// Opened for another field, it does not authenticate.
	_, err = s.Open(ctx, env, []byte("device 8c2f…/MEBxPassword"))
	fmt.Println(err)
	// Output:
	// sealed by 2025-01
	// re-sealed by 2026-01
	// seal: envelope does not authenticate (key "2026-01")
}
