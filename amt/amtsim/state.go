package amtsim

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/amtkit/amtkit/amt"
)

// Instance identifiers as real firmware reports them (go-wsman-messages'
// recorded responses, pkg/wsman/wsmantesting/responses), and the simulator's
// limits.
const (
	generalSettingsID  = "Intel(r) AMT: General Settings"
	tlsRemoteID        = "Intel(r) AMT 802.3 TLS Settings"
	tlsLocalID         = "Intel(r) AMT LMS TLS Settings"
	tlsCollectionName  = "TLSProtocolEndpoint Instances Collection"
	tlsCollectionName2 = "TLSProtocolEndpointInstances Collection" // what clients send on Create
	ieee8021xID        = "Intel(r) AMT: 8021X Settings"
	profile8021xID     = "Intel(r) AMT 802.1x Profile 0"
	certIDPrefix       = "Intel(r) AMT Certificate: Handle: "
	keyIDPrefix        = "Intel(r) AMT Key: Handle: "
	adminUserDefault   = "admin"
	localSystemUser    = "$$OsAdmin"
	maxUserEntries     = 32
	maxCertificates    = 32
	maxKeyPairs        = 16
	maxHandshakeLog    = 64
	otpZeroLen         = 32
)

type certEntry struct {
	handle      int
	cert        *x509.Certificate
	trustedRoot bool
	readOnly    bool
}

func (c *certEntry) instanceID() string { return certIDPrefix + strconv.Itoa(c.handle) }

type keyEntry struct {
	handle int
	key    crypto.Signer
	der    []byte // DERKey: PKCS#1 RSAPublicKey, or SPKI for ECC
}

func (k *keyEntry) instanceID() string { return keyIDPrefix + strconv.Itoa(k.handle) }

type aclEntry struct {
	handle  uint32
	user    string
	a1      []byte // MD5(user:realm:password), 16 bytes; nil for Kerberos entries
	sid     []byte
	perm    uint32
	realms  []uint32
	enabled bool
	system  bool
}

type tlsSetting struct {
	enabled, mutual, acceptNonSecure bool
	trustedCN                        []string
}

// appliedTLS is what the listeners use: the remote TLS settings and the bound
// certificate as of the last CommitChanges.
type appliedTLS struct {
	enabled, mutual, acceptNonSecure bool
	cert                             *x509.Certificate
	key                              crypto.Signer
}

// state is everything a Device changes; Device.mu guards it.
type state struct {
	prov    amt.ProvisioningState
	mode    amt.ControlMode
	zeroTch bool
	allowed []uint8 // AllowedControlModes
	// pkiSuffix is the PKI DNS suffix: Config.TrustedDNSSuffix until a
	// SetPKIDNSSuffix.
	pkiSuffix string

	mebx        amt.Secret
	mebxDefault bool
	otp         amt.Secret

	hashes []RootHash

	windowEnd     time.Time
	netClosed     bool
	unresponsive  bool
	contacted     bool // a configuration server completed a remote-configuration handshake
	agentStarted  bool
	helloSent     int
	tlsArmed      bool // the TLS listener (re)armed: see firstRequestDrop
	clockOffset   time.Duration
	localTimeSync uint32
	timeSource    uint32

	general map[string]string

	adminUser    string
	adminA1      []byte
	adminDefault bool
	adminNetDef  bool
	users        []*aclEntry
	nextUser     uint32

	nonce       []byte
	chain       []*x509.Certificate
	chainStatus uint8
	adminSetups int

	certs    []*certEntry
	nextCert int
	keys     []*keyEntry
	nextKey  int
	genCalls int
	// timeSetCalls counts SetHighAccuracyTimeSynch calls that passed the
	// checks (Behavior.TimeSyncRefusals).
	timeSetCalls int

	tlsRemote, tlsLocal tlsSetting
	tlsCert             int // handle bound by AMT_TLSCredentialContext, -1 none
	applied             appliedTLS

	ieee8021x       map[string]string
	ieeeClientCert  int
	ieeeServerCert  int
	profile         map[string]string
	profClientCert  int
	profServerIssue int
	ieeePassword    amt.Secret // the wired 802.1X password a Put sent (write-only)

	net netState // Wi-Fi profiles, wireless port, wired addressing (cls_wifi.go, cls_ip.go)
	ra  raState  // CIRA, redirection and user consent (cls_cira.go, cls_redirection.go)

	record     *ProvisioningRecord
	handshakes []HandshakeRecord
	requests   int
	// restartUntil: the network stack restarts after a commit until then
	// (LatencyModel.CommitRestart).
	restartUntil time.Time
	settleReads  int        // reads still answered in-provisioning after a commit (Behavior.CommitSettleReads)
	settleTLS    int        // handshakes still presenting settlePrev after a commit that changed the certificate
	settlePrev   appliedTLS // the TLS configuration before that commit

	hb         hbState // secure host-based configuration and pending commits (localtls.go)
	opDisabled bool    // AMT's operational state is disabled (Config.AMTDisabled)
}

// ProvisioningRecord is what the device kept of its provisioning: which
// configuration server chain it trusted and how it got there.
type ProvisioningRecord struct {
	// Method is "remote configuration", "host-based admin setup",
	// "host-based client setup" or "upgrade to admin".
	Method string
	Time   time.Time
	// Chain is the provisioning certificate chain (leaf first), nil for an
	// unsigned host-based client setup.
	Chain []*x509.Certificate
	// RootHash is the active table entry the chain's root matched.
	RootHash amt.CertHash
}

// HandshakeRecord describes one TLS handshake on the 16993 listener: which
// client chain was presented and what the firmware rules said.
type HandshakeRecord struct {
	Time   time.Time
	Remote string
	// Mode is "remote configuration", "post-provisioning" or "psk".
	Mode string
	// Chain is the client certificate chain as sent (leaf first); nil when the
	// client sent none.
	Chain []*x509.Certificate
	// RootHash is the table entry the chain's root matched (zero if none).
	RootHash amt.CertHash
	// Err is nil when the chain was accepted, else a *RuleError (or the reason
	// the chain could not be read).
	Err error
}

// Leaf returns the client's leaf certificate, or nil.
func (h HandshakeRecord) Leaf() *x509.Certificate {
	if len(h.Chain) == 0 {
		return nil
	}
	return h.Chain[0]
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func defaultGeneral(cfg *Config, fw amt.Firmware, realm string) map[string]string {
	m := map[string]string{
		"AMTNetworkEnabled":             "1",
		"DDNSPeriodicUpdateInterval":    "1440",
		"DDNSTTL":                       "900",
		"DDNSUpdateByDHCPServerEnabled": "true",
		"DDNSUpdateEnabled":             "false",
		"DHCPSyncRequiresHostname":      "1",
		"DHCPv6ConfigurationTimeout":    "0",
		"DigestRealm":                   realm,
		"DomainName":                    cfg.DomainName,
		"ElementName":                   generalSettingsID,
		"HostName":                      cfg.HostName,
		"HostOSFQDN":                    "",
		"IdleWakeTimeout":               "65535",
		"InstanceID":                    generalSettingsID,
		"NetworkInterfaceEnabled":       "true",
		"PingResponseEnabled":           "true",
		"PowerSource":                   "0",
		"PreferredAddressFamily":        "0",
		"PresenceNotificationInterval":  "0",
		"PrivacyLevel":                  "0",
		"RmcpPingResponseEnabled":       "true",
		"SharedFQDN":                    "true",
		"ThunderboltDockEnabled":        "0",
		"WsmanOnlyMode":                 "false",
	}
	if !fw.ThunderboltDockSetting {
		delete(m, "ThunderboltDockEnabled")
	}
	return m
}

// generalReadOnly are the AMT_GeneralSettings properties a Put may carry but
// not change.
var generalReadOnly = map[string]bool{
	"DigestRealm": true, "NetworkInterfaceEnabled": true, "PrivacyLevel": true, "PowerSource": true,
	"InstanceID": true, "ElementName": true,
}

func defaultIEEE8021x() map[string]string {
	return map[string]string{
		"AvailableInS0": "true",
		"ElementName":   ieee8021xID,
		"Enabled":       "3",
		"InstanceID":    ieee8021xID,
		"PxeTimeout":    "120",
	}
}

func defaultProfile() map[string]string {
	return map[string]string{
		"ActiveInS0":  "true",
		"ElementName": "Intel(r) AMT 802.1x Profile",
		"Enabled":     "false",
		"InstanceID":  profile8021xID,
		"PxeTimeout":  "0",
	}
}

func newNonce(r io.Reader) ([]byte, error) {
	b := make([]byte, 20)
	_, err := io.ReadFull(r, b)
	return b, err
}

// deviceSuffix is the suffix provisioning certificates are matched against:
// the trusted (MEBx) suffix when set, else the DHCP one. " " and "." count as
// unset, as rpc-go treats them.
func deviceSuffix(trusted, dhcp string) string {
	t := strings.TrimSpace(trusted)
	if t != "" && t != "." {
		return t
	}
	return strings.TrimSpace(dhcp)
}
