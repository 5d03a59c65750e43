package amt

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
)

// DigestA1 returns MD5(user ":" realm ":" password), the HTTP digest A1 value AMT
// stores for a digest account. The realm is AMT_GeneralSettings.DigestRealm
// ("Digest:" followed by 32 hex digits).
//
// AMT wants this value in two encodings — do not mix them up
// (intel/lms IPS_HostBasedSetupService.h types NetworkAdminPassword HexBinary,
// AMT_AuthorizationService.h types DigestPassword Base64):
//
//   - [DigestA1Hex] for IPS_HostBasedSetupService Setup/AdminSetup
//     NetworkAdminPassword (a HexBinary);
//   - [DigestA1Base64] for AMT_AuthorizationService SetAdminAclEntryEx and
//     AddUserAclEntryEx DigestPassword (base64 of the 16 raw bytes).
func DigestA1(user, realm string, password Secret) [16]byte {
	h := md5.New()
	h.Write([]byte(user))
	h.Write([]byte{':'})
	h.Write([]byte(realm))
	h.Write([]byte{':'})
	h.Write([]byte(password.Reveal()))
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// DigestA1Hex returns [DigestA1] as 32 lower-case hex digits, the
// NetworkAdminPassword encoding of AdminSetup and Setup. The result is as sensitive
// as the password and is returned as a [Secret].
func DigestA1Hex(user, realm string, password Secret) Secret {
	a1 := DigestA1(user, realm, password)
	return NewSecret(hex.EncodeToString(a1[:]))
}

// DigestA1Base64 returns [DigestA1] as standard base64 of the 16 raw bytes, the
// DigestPassword encoding of SetAdminAclEntryEx and AddUserAclEntryEx. The result is
// as sensitive as the password and is returned as a [Secret].
func DigestA1Base64(user, realm string, password Secret) Secret {
	a1 := DigestA1(user, realm, password)
	return NewSecret(base64.StdEncoding.EncodeToString(a1[:]))
}
