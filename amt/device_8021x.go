package amt

import (
	"context"
	"fmt"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=IEEE8021xEnabled -linecomment -output=ieee8021xenabled_string.go

// IEEE8021xEnabled is IPS_IEEE8021xSettings.Enabled. String returns
// "EnabledWithCertificates", "Disabled", "EnabledWithoutCertificates" or
// "IEEE8021xEnabled(n)".
type IEEE8021xEnabled uint32

// 802.1X states.
const (
	IEEE8021xEnabledWithCertificates    IEEE8021xEnabled = 2 // EnabledWithCertificates
	IEEE8021xDisabled                   IEEE8021xEnabled = 3 // Disabled
	IEEE8021xEnabledWithoutCertificates IEEE8021xEnabled = 6 // EnabledWithoutCertificates
)

// EAPMethod is the AuthenticationProtocol of IPS_IEEE8021xSettings (the CIM
// value map; AMT_8021XProfile uses a different one).
type EAPMethod uint16

// EAP methods of CIM_IEEE8021xSettings.AuthenticationProtocol.
const (
	EAPTLS            EAPMethod = 0
	EAPTTLSMSCHAPv2   EAPMethod = 1
	EAPPEAPv0MSCHAPv2 EAPMethod = 2
	EAPPEAPv1GTC      EAPMethod = 3
	EAPFASTMSCHAPv2   EAPMethod = 4
	EAPFASTGTC        EAPMethod = 5
	EAPMD5            EAPMethod = 6
	EAPPSK            EAPMethod = 7
	EAPSIM            EAPMethod = 8
	EAPAKA            EAPMethod = 9
	EAPFASTTLS        EAPMethod = 10
)

const (
	propPassword                  = "Password"
	propPACPassword               = "PACPassword"
	propPSK                       = "PSK"
	propProtectedAccess           = "ProtectedAccessCredential"
	propClientCertificate         = "ClientCertificate"
	propServerCertificateIssuer   = "ServerCertificateIssuer"
	ieee8021xProfileInstanceID    = "Intel(r) AMT 802.1x Profile 0"
	ieee8021xSettingsProtocolProp = "AuthenticationProtocol"
)

// IEEE8021xSettings is the IPS_IEEE8021xSettings singleton: wired 802.1X
// (intel/lms IPS_IEEE8021xSettings.h; RPS wiredNetworkConfiguration.ts). The
// device answers a Get with a DestinationUnreachable fault on wireless-only
// units (rps issue #1072).
type IEEE8021xSettings struct {
	InstanceID  string // "Intel(r) AMT: 8021X Settings"
	ElementName string
	Enabled     IEEE8021xEnabled
	// AvailableInS0: 802.1X also while the host OS runs.
	AvailableInS0 bool
	// PxeTimeout is how long (s) AMT holds the session during PXE boot; 0
	// disables, at most 86400.
	PxeTimeout                      uint32
	AuthenticationProtocol          EAPMethod
	RoamingIdentity                 string
	ServerCertificateName           string
	ServerCertificateNameComparison uint16
	Username                        string
	Domain                          string
	// Password and PACPassword are write-only: the device never returns
	// them. They are sent when non-empty (and never for EAP-TLS).
	Password    Secret `wsman:"-"`
	PACPassword Secret `wsman:"-"`

	src *source
}

func parseIEEE8021xSettings(el *etree.Element) (*IEEE8021xSettings, error) {
	return parseSourced[IEEE8021xSettings](el, URIIEEE8021xSettings)
}

func (s *IEEE8021xSettings) setSource(src *source) { s.src = src }

// IEEE8021xSettings reads IPS_IEEE8021xSettings (Get, no selector).
func (d *Device) IEEE8021xSettings(ctx context.Context) (*IEEE8021xSettings, error) {
	return getAs(ctx, d, URIIEEE8021xSettings, nil, parseIEEE8021xSettings)
}

// PutIEEE8021xSettings writes s back (Put, no selector), the first step of
// RPS's wired flow: the instance as read with the changed properties replaced;
// Enabled and AuthenticationProtocol always sent; for EAP-TLS, Password, PSK,
// PACPassword and ProtectedAccessCredential left out. Bind the certificates
// afterwards with [Device.SetIEEE8021xCertificates].
func (d *Device) PutIEEE8021xSettings(ctx context.Context, s *IEEE8021xSettings) (*IEEE8021xSettings, error) {
	if s == nil {
		return nil, opError(URIIEEE8021xSettings, "Put", ErrNotReadFromDevice)
	}
	force := []string{"Enabled", ieee8021xSettingsProtocolProp}
	var drop []string
	if s.AuthenticationProtocol == EAPTLS {
		drop = []string{propPassword, propPACPassword, propPSK, propProtectedAccess}
	}
	body, err := s.src.edited(s, force, drop)
	if err != nil {
		return nil, opError(URIIEEE8021xSettings, "Put", err)
	}
	if s.AuthenticationProtocol != EAPTLS {
		setSecretProperty(body, propPassword, s.Password)
		setSecretProperty(body, propPACPassword, s.PACPassword)
	}
	el, err := d.put(ctx, URIIEEE8021xSettings, nil, body)
	if err != nil {
		return nil, err
	}
	out, err := parseIEEE8021xSettings(el)
	return out, opError(URIIEEE8021xSettings, "Put", err)
}

func setSecretProperty(body *etree.Element, name string, v Secret) {
	if !v.IsZero() {
		setProperty(body, name, wsman.Prop(name, v.Reveal()))
	}
}

// SetIEEE8021xCertificates calls IPS_IEEE8021xSettings.SetCertificates with
// EPRs to the AMT_PublicKeyCertificate instances: serverCertificateIssuer is the
// RADIUS server's root (added with AddTrustedRootCertificate), clientCertificate
// AMT's 802.1X client certificate. An empty ID omits that parameter. Its
// ReturnValue map is 0 success, 1 internal error ([ErrIEEE8021xInternalError]).
func (d *Device) SetIEEE8021xCertificates(ctx context.Context, serverCertificateIssuer, clientCertificate string) error {
	const method = "SetCertificates"
	var ps []wsman.Property
	if serverCertificateIssuer != "" {
		ps = append(ps, wsman.PropEPR(propServerCertificateIssuer, instanceEPR(URIPublicKeyCertificate, serverCertificateIssuer)))
	}
	if clientCertificate != "" {
		ps = append(ps, wsman.PropEPR(propClientCertificate, instanceEPR(URIPublicKeyCertificate, clientCertificate)))
	}
	if len(ps) == 0 {
		return opError(URIIEEE8021xSettings, method, fmt.Errorf("%w: no certificate given", ErrInvalidArgument))
	}
	_, err := d.invoke(ctx, URIIEEE8021xSettings, method, nil, ps...)
	return err
}

// IEEE8021xCredentialContexts enumerates IPS_8021xCredentialContext: the
// certificates SetCertificates bound (ElementProvidingContext is the
// IPS_IEEE8021xSettings instance).
func (d *Device) IEEE8021xCredentialContexts(ctx context.Context) ([]CredentialContext, error) {
	return d.credentialContexts(ctx, URIIEEE8021xCredentialContext)
}

// IEEE8021xProfile is the legacy wired AMT_8021XProfile (AMT 3 to 11; Intel
// AMT SDK class reference, intel/lms AMT_8021XProfile.h). Its
// AuthenticationProtocol map differs from the CIM one: 0 TLS, 1 TTLS/MSCHAPv2,
// 2 PEAP/MSCHAPv2, 3 EAP-GTC, 4 EAP-FAST/MSCHAPv2, 5 EAP-FAST/GTC,
// 6 EAP-FAST/TLS.
type IEEE8021xProfile struct {
	InstanceID             string // "Intel(r) AMT 802.1x Profile 0"
	ElementName            string
	Enabled                bool
	ActiveInS0             bool
	AuthenticationProtocol uint16
	// ServerCertificateNameComparison: 0 full name, 1 domain suffix.
	ServerCertificateName           string
	ServerCertificateNameComparison uint16
	Username                        string
	Domain                          string
	RoamingIdentity                 string
	PxeTimeout                      uint32
	// Password and PACPassword are write-only, sent when non-empty.
	Password    Secret `wsman:"-"`
	PACPassword Secret `wsman:"-"`
	// ClientCertificate and ServerCertificateIssuer are
	// AMT_PublicKeyCertificate InstanceIDs, sent as EPR-valued properties when
	// non-empty. The device never returns them: each Put replaces the
	// AMT_8021xCredentialContext of a role given here, and without a
	// ServerCertificateIssuer AMT looks for a matching root itself.
	ClientCertificate       string `wsman:"-"`
	ServerCertificateIssuer string `wsman:"-"`

	src *source
}

func parseIEEE8021xProfile(el *etree.Element) (*IEEE8021xProfile, error) {
	return parseSourced[IEEE8021xProfile](el, URI8021XProfile)
}

func (p *IEEE8021xProfile) setSource(src *source) { p.src = src }

// IEEE8021xProfile reads AMT_8021XProfile ("Intel(r) AMT 802.1x Profile 0").
func (d *Device) IEEE8021xProfile(ctx context.Context) (*IEEE8021xProfile, error) {
	return getAs(ctx, d, URI8021XProfile, wsman.SelectorSet{wsman.Sel("InstanceID", ieee8021xProfileInstanceID)}, parseIEEE8021xProfile)
}

// PutIEEE8021xProfile writes p back (Put with the InstanceID selector): the
// instance as read with the changed properties replaced, the write-only
// passwords when set, and ClientCertificate / ServerCertificateIssuer as EPRs
// to AMT_PublicKeyCertificate when set.
func (d *Device) PutIEEE8021xProfile(ctx context.Context, p *IEEE8021xProfile) (*IEEE8021xProfile, error) {
	if p == nil {
		return nil, opError(URI8021XProfile, "Put", ErrNotReadFromDevice)
	}
	body, err := p.src.edited(p, []string{"Enabled"}, nil)
	if err != nil {
		return nil, opError(URI8021XProfile, "Put", err)
	}
	setSecretProperty(body, propPassword, p.Password)
	setSecretProperty(body, propPACPassword, p.PACPassword)
	if p.ClientCertificate != "" {
		setProperty(body, propClientCertificate, wsman.PropEPR(propClientCertificate, instanceEPR(URIPublicKeyCertificate, p.ClientCertificate)))
	}
	if p.ServerCertificateIssuer != "" {
		setProperty(body, propServerCertificateIssuer, wsman.PropEPR(propServerCertificateIssuer, instanceEPR(URIPublicKeyCertificate, p.ServerCertificateIssuer)))
	}
	id := p.InstanceID
	if id == "" {
		id = ieee8021xProfileInstanceID
	}
	el, err := d.put(ctx, URI8021XProfile, wsman.SelectorSet{wsman.Sel("InstanceID", id)}, body)
	if err != nil {
		return nil, err
	}
	out, err := parseIEEE8021xProfile(el)
	return out, opError(URI8021XProfile, "Put", err)
}

// AMT8021xCredentialContexts enumerates AMT_8021xCredentialContext, the
// certificates bound to the legacy profile.
func (d *Device) AMT8021xCredentialContexts(ctx context.Context) ([]CredentialContext, error) {
	return d.credentialContexts(ctx, URIAMT8021xCredentialContext)
}
