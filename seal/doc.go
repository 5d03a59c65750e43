// Package seal encrypts secrets for storage: the passwords, one-time passwords
// and pre-shared keys amtkit keeps in its stores never reach a disk, a database
// row or a backup in plaintext.
//
// A [Sealer] turns a secret into an opaque envelope bound to "additional
// data" (the record and field it belongs to, so an envelope copied into
// another record does not open) and back. [AESGCM] is the default: AES-256-GCM
// (NIST SP 800-38D) with a random 96-bit nonce per envelope, from keys the
// integrator supplies. Each envelope names the key that sealed it, so keys
// rotate without downtime: make the new key the primary, keep the old ones
// for opening, re-seal the stored records (provisioning.Reseal does it for a
// device store), then drop the old keys.
//
// A key-management service or a vault plugs in by implementing Sealer — for
// example by wrapping a data key with the service and sealing locally with
// AESGCM, so that secrets are not sent to the service one by one.
//
// The package is small on purpose and uses only the standard library's
// crypto/aes and crypto/cipher: no primitive is written here.
package seal
