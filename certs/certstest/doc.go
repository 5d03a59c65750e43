// Package certstest makes throw-away certificate authorities and provisioning
// chains for tests and examples: good chains, and chains with exactly one thing
// wrong (no AMT OID or OU, a wildcard name, SHA-1, short or non-RSA keys, expired,
// missing root, ...), so that code which chooses or checks provisioning bundles can
// be tested against the rules rather than against itself.
//
// Nothing here is for production: the CAs are unprotected, and the RSA keys come
// from TEST-ONLY PEM files embedded in the package (public, committed to the
// repository).
//
// # Speed
//
// Generating an RSA-2048 key costs 20–250 ms on a small machine; a [KeyPool]
// hands out the 32 embedded 2048-bit keys (plus 4 of 1024 bits for "short key"
// cases and 2 of 3072 bits for "key too long" cases) instead, parsing each on first
// use, and generates more only when those run out ([KeyPool.Reuse] cycles instead;
// [KeyPool.Cycle] serves a simulated fleet of any size). With pooled keys a chain
// costs one RSA signature per certificate made; reuse a root
// ([ProvisioningOptions.Root]) or an issuing CA ([ProvisioningOptions.Issuer]) to
// make only the leaf.
//
// # Issuing and revoking
//
// A [CA] issues certificates for any public key — as an integrator's CA does for
// keys AMT generated — revokes them by certificate or serial, and writes CRLs,
// so renewal and revocation paths can be tested end to end.
package certstest
