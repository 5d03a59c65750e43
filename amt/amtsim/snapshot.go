package amtsim

import (
	"crypto"
	"crypto/x509"
	"slices"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// Snapshot is a read-only copy of a device's state for tests. It holds no
// secrets: passwords are checked with [Device.AdminPasswordIs] and
// [Device.MEBxPasswordIs].
type Snapshot struct {
	UUID        amt.UUID
	Version     amt.Version
	DigestRealm string
	DNSSuffix   string

	ProvisioningState amt.ProvisioningState
	ControlMode       amt.ControlMode
	// RemoteConfigurationEnabled is ZeroTouchConfigurationEnabled.
	RemoteConfigurationEnabled bool

	// MEBxPasswordDefault: the MEBx password is still the factory default.
	MEBxPasswordDefault bool
	// AdminUser is the admin ACL entry's user; AdminPasswordDefault reports
	// GetAdminAclEntryStatus.IsDefault.
	AdminUser            string
	AdminPasswordDefault bool
	// OTPSet: the device holds a one-time password.
	OTPSet bool

	RootHashes []RootHash

	// WindowEnd is when the provisioning window closes; NetworkOpen whether
	// remote sessions are accepted now; Unresponsive whether the device hangs.
	WindowEnd    time.Time
	NetworkOpen  bool
	Unresponsive bool
	// Contacted: a configuration server completed a remote-configuration
	// handshake.
	Contacted bool
	// HellosSent counts hellos delivered or attempted.
	HellosSent int
	// Clock is the device's clock now.
	Clock time.Time

	HostName, DomainName string

	// ConfigurationNonce is IPS_HostBasedSetupService.ConfigurationNonce;
	// CertChainStatus its chain progress (0, 1, 2).
	ConfigurationNonce []byte
	CertChainStatus    uint8

	Certificates []CertificateInfo
	KeyPairs     []KeyPairInfo
	Users        []UserInfo

	// TLS is the stored AMT_TLSSettingData; TLSApplied what the listener uses
	// since the last CommitChanges.
	TLSRemote, TLSLocal TLSSetting
	TLSApplied          TLSSetting
	// TLSCertificate is the certificate bound by AMT_TLSCredentialContext (nil
	// when none); TLSAppliedCertificate the one the listener serves.
	TLSCertificate        *x509.Certificate
	TLSAppliedCertificate *x509.Certificate

	// IEEE8021x are the IPS_IEEE8021xSettings properties; IEEE8021xClient and
	// IEEE8021xServer the certificates bound by SetCertificates.
	IEEE8021x                        map[string]string
	IEEE8021xClient, IEEE8021xServer *x509.Certificate

	// Record is what the device kept of its provisioning (nil before).
	Record *ProvisioningRecord
	// Handshakes are the last TLS handshakes on the 16993 listener, oldest
	// first.
	Handshakes []HandshakeRecord
	// Requests counts WS-Man requests served.
	Requests int
}

// CertificateInfo is one AMT_PublicKeyCertificate.
type CertificateInfo struct {
	InstanceID  string
	Certificate *x509.Certificate
	TrustedRoot bool
}

// KeyPairInfo is one AMT_PublicPrivateKeyPair.
type KeyPairInfo struct {
	InstanceID string
	Public     crypto.PublicKey
	// DERKey is what the device reports (PKCS#1 for RSA, SPKI for ECC).
	DERKey []byte
}

// UserInfo is one user ACL entry (the digest is not shown).
type UserInfo struct {
	Handle           uint32
	User             string
	Kerberos         bool
	AccessPermission uint32
	Realms           []uint32
	Enabled          bool
	System           bool
}

// TLSSetting is one AMT_TLSSettingData instance.
type TLSSetting struct {
	Enabled, MutualAuthentication, AcceptNonSecureConnections bool
	TrustedCN                                                 []string
}

// Snapshot returns a copy of the device's state.
func (d *Device) Snapshot() Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &d.st
	s := Snapshot{
		UUID: d.uuid, Version: d.fw.Version, DigestRealm: d.realm, DNSSuffix: d.dnsSuffixLocked(),
		ProvisioningState: st.prov, ControlMode: st.mode, RemoteConfigurationEnabled: st.zeroTch,
		MEBxPasswordDefault: st.mebxDefault, AdminUser: st.adminUser, AdminPasswordDefault: st.adminDefault,
		OTPSet:     !st.otp.IsZero(),
		RootHashes: slices.Clone(st.hashes),
		WindowEnd:  st.windowEnd, NetworkOpen: d.remoteOpenLocked(), Unresponsive: st.unresponsive,
		Contacted: st.contacted, HellosSent: st.helloSent,
		Clock:    d.now().Add(st.clockOffset),
		HostName: st.general["HostName"], DomainName: st.general["DomainName"],
		ConfigurationNonce: slices.Clone(st.nonce), CertChainStatus: st.chainStatus,
		TLSRemote: tlsView(st.tlsRemote), TLSLocal: tlsView(st.tlsLocal),
		TLSApplied:            TLSSetting{Enabled: st.applied.enabled, MutualAuthentication: st.applied.mutual, AcceptNonSecureConnections: st.applied.acceptNonSecure},
		TLSAppliedCertificate: st.applied.cert,
		IEEE8021x:             copyMap(st.ieee8021x),
		Record:                st.record,
		Handshakes:            slices.Clone(st.handshakes),
		Requests:              st.requests,
	}
	for _, c := range st.certs {
		s.Certificates = append(s.Certificates, CertificateInfo{InstanceID: c.instanceID(), Certificate: c.cert, TrustedRoot: c.trustedRoot})
		if c.handle == st.tlsCert {
			s.TLSCertificate = c.cert
		}
		if c.handle == st.ieeeClientCert {
			s.IEEE8021xClient = c.cert
		}
		if c.handle == st.ieeeServerCert {
			s.IEEE8021xServer = c.cert
		}
	}
	for _, k := range st.keys {
		s.KeyPairs = append(s.KeyPairs, KeyPairInfo{InstanceID: k.instanceID(), Public: k.key.Public(), DERKey: slices.Clone(k.der)})
	}
	for _, u := range st.users {
		s.Users = append(s.Users, UserInfo{Handle: u.handle, User: u.user, Kerberos: u.sid != nil, AccessPermission: u.perm,
			Realms: slices.Clone(u.realms), Enabled: u.enabled, System: u.system})
	}
	return s
}

func tlsView(t tlsSetting) TLSSetting {
	return TLSSetting{Enabled: t.enabled, MutualAuthentication: t.mutual, AcceptNonSecureConnections: t.acceptNonSecure, TrustedCN: slices.Clone(t.trustedCN)}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
