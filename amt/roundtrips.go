package amt

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/amtkit/amtkit/wsman"
)

// Calls that save a round trip to the firmware, each where a public source
// shows firmware allows it (docs/PERFORMANCE.md, "Round trips").

// serverPrefix starts the HTTP Server header of AMT's web server.
const serverPrefix = "Intel(R) Active Management Technology "

// ServerVersion returns the firmware version an AMT HTTP Server header names:
// "Intel(R) Active Management Technology 16.1.25.1917" gives 16.1.25 (the
// build number, fourth, is dropped: CIM_SoftwareIdentity's "AMT" instance
// reports three components). Real firmware sends it on every response,
// digest challenges included (schnoddelbotz/amtc issue 2: 8.0.3;
// device-management-toolkit/rps issue 779: 16.1.25.1917), and MeshCentral
// takes the version from it when CIM_SoftwareIdentity lacks one
// (amtprovisioningserver.js, amt-wsman-comm.js amtVersion). ok is false for
// any other header, as the bare "AMT" that Skylake and Kaby Lake platforms
// (AMT 11) send (nmap pull request 876) or one with fewer than three
// components.
func ServerVersion(header string) (v Version, ok bool) {
	rest, found := strings.CutPrefix(header, serverPrefix)
	if !found || strings.Count(rest, ".") < 2 {
		return Version{}, false
	}
	v, err := ParseVersion(rest)
	if err != nil {
		return Version{}, false
	}
	v.Revision = 0
	return v, true
}

// GeneralSettingsVersion reads AMT_GeneralSettings like
// [Device.GeneralSettings] and returns with it the firmware version the
// response's Server header names ([ServerVersion]), zero when it names none:
// the version in the same exchange, where [Device.Version] costs an
// enumeration of CIM_SoftwareIdentity (two exchanges). The settings keep a
// detached copy of the instance rather than the response document, for
// callers that hold them while they make other calls.
func (d *Device) GeneralSettingsVersion(ctx context.Context) (*GeneralSettings, Version, error) {
	resp, err := d.c.Get(ctx, URIGeneralSettings, nil, d.opts...)
	if err != nil {
		return nil, Version{}, opError(URIGeneralSettings, "Get", err)
	}
	el, err := instanceOf(resp.Envelope, URIGeneralSettings)
	if err != nil {
		return nil, Version{}, opError(URIGeneralSettings, "Get", err)
	}
	gs, err := parseGeneralSettings(el)
	if err != nil {
		return nil, Version{}, opError(URIGeneralSettings, "Get", err)
	}
	// The caller keeps the settings across its later calls (to echo them in a
	// Put): keep a detached copy of the instance, not the whole response.
	gs.src.raw = wsman.Detach(el)
	v, _ := ServerVersion(resp.HTTPHeader.Get("Server"))
	return gs, v, nil
}

// TLSCollectionEPR is the reference to the TLS protocol endpoint collection
// that MeshCentral (amtprovisioningserver.js, Create of
// AMT_TLSCredentialContext) and go-wsman-messages
// (pkg/wsman/amt/tls/credentialcontext.go, Create) send without reading the
// collection: ElementName [TLSCollectionNameUnspaced]. Devices accept it on
// Create; AMT 22 refused a hand-built reference on a Put (RPS
// amtCertificatePolicy.ts), so [Device.PutTLSCredentialContext] never uses it.
func TLSCollectionEPR() wsman.EPR {
	return wsman.EPR{ResourceURI: URITLSProtocolEndpointCollection, Selectors: wsman.SelectorSet{wsman.Sel("ElementName", TLSCollectionNameUnspaced)}}
}

// BindTLSCertificateDirect makes certID the TLS server certificate of a device
// that has no TLS credential context yet (one being provisioned) in one
// exchange: a Create addressed with [TLSCollectionEPR], where
// [Device.BindTLSCertificate] first enumerates the contexts and
// [Device.CreateTLSCredentialContext] the collection (four exchanges more).
// When the device has a context already (AlreadyExists) it falls back to
// [Device.BindTLSCertificate]. Use BindTLSCertificate on AMT 22 and later,
// whose collection reference it echoes as the device reported it.
func (d *Device) BindTLSCertificateDirect(ctx context.Context, certID string) (*CredentialContext, error) {
	if certID == "" {
		return nil, opError(URITLSCredentialContext, "Create", fmt.Errorf("%w: no certificate InstanceID", ErrInvalidArgument))
	}
	cc, err := d.createTLSCredentialContext(ctx, certID, TLSCollectionEPR())
	if errors.Is(err, wsman.ErrAlreadyExists) {
		return d.BindTLSCertificate(ctx, certID)
	}
	return cc, err
}
