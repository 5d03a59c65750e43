package amt

import (
	"context"
	"errors"
	"fmt"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// AMT_TLSSettingData instances (intel/lms AMT_TLSSettingData.h; instance names
// as go-wsman-messages' recorded amt/tls/settingdata responses show them).
const (
	// TLSRemoteInstanceID is the network interface (ports 16992/16993).
	TLSRemoteInstanceID = "Intel(r) AMT 802.3 TLS Settings"
	// TLSLocalInstanceID is the host (LMS) interface.
	TLSLocalInstanceID = "Intel(r) AMT LMS TLS Settings"
)

// The two spellings of the AMT_TLSProtocolEndpointCollection name: the device
// reports the spaced one; MeshCentral, WMT and go-wsman-messages send the
// unspaced one on Create, and devices accept it. [Device] always echoes the
// name the device reported.
const (
	TLSCollectionName         = "TLSProtocolEndpoint Instances Collection"
	TLSCollectionNameUnspaced = "TLSProtocolEndpointInstances Collection"
)

// IsTLSCollectionName reports whether s is either spelling of the TLS protocol
// endpoint collection's name.
func IsTLSCollectionName(s string) bool {
	return s == TLSCollectionName || s == TLSCollectionNameUnspaced
}

// TLSSettingData is an AMT_TLSSettingData instance: the TLS configuration of
// the remote or the local interface.
type TLSSettingData struct {
	InstanceID  string // TLSRemoteInstanceID or TLSLocalInstanceID
	ElementName string
	// Enabled turns TLS on for the interface (a certificate must be bound with
	// AMT_TLSCredentialContext first).
	Enabled bool
	// MutualAuthentication requires client certificates. AMT wants it in every
	// Put that enables TLS; it is always sent when Enabled is true.
	MutualAuthentication bool
	// AcceptNonSecureConnections keeps the non-TLS port open. Read-only on the
	// local instance; left out of the Put when NonSecureConnectionsSupported
	// is present and false.
	AcceptNonSecureConnections bool
	// NonSecureConnectionsSupported (read-only, CSME 16.1+) is nil when the
	// device does not report it.
	NonSecureConnectionsSupported *bool
	// TrustedCN lists the CNs allowed for client certificates under mutual
	// TLS. Changing only TrustedCN needs no CommitChanges.
	TrustedCN []string

	src *source
}

// Remote reports whether s is the remote (network) interface's instance.
func (s *TLSSettingData) Remote() bool { return s.InstanceID == TLSRemoteInstanceID }

func parseTLSSettingData(el *etree.Element) (*TLSSettingData, error) {
	return parseSourced[TLSSettingData](el, URITLSSettingData)
}

func (s *TLSSettingData) setSource(src *source) { s.src = src }

// TLSSettings enumerates AMT_TLSSettingData (both interfaces, in the device's
// order — tell them apart by InstanceID).
func (d *Device) TLSSettings(ctx context.Context) ([]*TLSSettingData, error) {
	return enumerateAll(ctx, d, URITLSSettingData, parseTLSSettingData)
}

// TLSSetting reads the AMT_TLSSettingData with instanceID
// ([TLSRemoteInstanceID] or [TLSLocalInstanceID]).
func (d *Device) TLSSetting(ctx context.Context, instanceID string) (*TLSSettingData, error) {
	return getAs(ctx, d, URITLSSettingData, wsman.SelectorSet{wsman.Sel("InstanceID", instanceID)}, parseTLSSettingData)
}

// PutTLSSettings writes s back (Put with the InstanceID selector): the
// instance as read with the changed properties replaced, MutualAuthentication
// always present when Enabled, without the read-only
// NonSecureConnectionsSupported (go-wsman-messages omits it from Puts, rpc-go
// never sends it), and with AcceptNonSecureConnections as read where the
// device reports NonSecureConnectionsSupported false (rpc-go
// configure/tls.go and RPS tls.ts send the value read there). Changes other than
// TrustedCN take effect after CommitChanges; AMT may take 30 s or more to
// reconfigure. Enabling TLS on the local interface during host-based
// activation makes CommitChanges succeed but be ignored (MeshCentral): enable
// the remote interface only.
func (d *Device) PutTLSSettings(ctx context.Context, s *TLSSettingData) (*TLSSettingData, error) {
	if s == nil {
		return nil, opError(URITLSSettingData, "Put", ErrNotReadFromDevice)
	}
	if s.src == nil {
		return nil, opError(URITLSSettingData, "Put", ErrNotReadFromDevice)
	}
	var force []string
	if s.Enabled {
		force = append(force, "MutualAuthentication")
	}
	cur := *s
	if s.NonSecureConnectionsSupported != nil && !*s.NonSecureConnectionsSupported {
		var read TLSSettingData
		if err := wsman.Unmarshal(s.src.raw, &read); err != nil {
			return nil, opError(URITLSSettingData, "Put", fmt.Errorf("%w: %w", ErrBadResponse, err))
		}
		cur.AcceptNonSecureConnections = read.AcceptNonSecureConnections
	}
	return putEdited(ctx, d, URITLSSettingData, wsman.SelectorSet{wsman.Sel("InstanceID", s.InstanceID)}, s.src, &cur, force,
		[]string{"NonSecureConnectionsSupported"}, parseTLSSettingData)
}

// TLSProtocolEndpointCollection is the AMT_TLSProtocolEndpointCollection
// instance, the ElementProvidingContext of the TLS credential context.
type TLSProtocolEndpointCollection struct {
	// ElementName as the device reports it (normally [TLSCollectionName]).
	ElementName string
}

// EPR returns the endpoint reference a credential context uses for the
// collection: selector ElementName with the device's own spelling.
func (c *TLSProtocolEndpointCollection) EPR() wsman.EPR {
	return wsman.EPR{ResourceURI: URITLSProtocolEndpointCollection, Selectors: wsman.SelectorSet{wsman.Sel("ElementName", c.ElementName)}}
}

// TLSProtocolEndpointCollection enumerates AMT_TLSProtocolEndpointCollection
// and returns its instance (ErrNotFound when there is none).
func (d *Device) TLSProtocolEndpointCollection(ctx context.Context) (*TLSProtocolEndpointCollection, error) {
	els, err := d.enumerate(ctx, URITLSProtocolEndpointCollection)
	if err != nil {
		return nil, err
	}
	if len(els) == 0 {
		return nil, opError(URITLSProtocolEndpointCollection, "Enumerate", ErrNotFound)
	}
	var c TLSProtocolEndpointCollection
	if err := wsman.Unmarshal(els[0], &c); err != nil {
		return nil, opError(URITLSProtocolEndpointCollection, "Enumerate", fmt.Errorf("%w: %w", ErrBadResponse, err))
	}
	if c.ElementName == "" {
		return nil, opError(URITLSProtocolEndpointCollection, "Enumerate", fmt.Errorf("%w: collection without ElementName", ErrBadResponse))
	}
	return &c, nil
}

// CredentialContext is an association binding a certificate to what uses it:
// AMT_TLSCredentialContext (the TLS server certificate),
// IPS_8021xCredentialContext and AMT_8021xCredentialContext (802.1X).
type CredentialContext struct {
	// ElementInContext points to the AMT_PublicKeyCertificate.
	ElementInContext wsman.EPR
	// ElementProvidingContext points to the user: the TLS protocol endpoint
	// collection, IPS_IEEE8021xSettings or AMT_8021XProfile.
	ElementProvidingContext wsman.EPR

	raw *etree.Element
}

// CertificateInstanceID returns the InstanceID of the bound certificate.
func (c *CredentialContext) CertificateInstanceID() string {
	id, _ := c.ElementInContext.Selectors.Get("InstanceID")
	return id
}

func parseCredentialContext(el *etree.Element, uri string) (*CredentialContext, error) {
	c, err := parseAs[CredentialContext](el, uri)
	if err != nil {
		return nil, err
	}
	if wsman.Child(el, "", "ElementInContext") == nil || wsman.Child(el, "", "ElementProvidingContext") == nil {
		return nil, fmt.Errorf("%w: %s without ElementInContext and ElementProvidingContext", ErrBadResponse, el.Tag)
	}
	c.raw = wsman.Detach(el)
	return c, nil
}

func (d *Device) credentialContexts(ctx context.Context, uri string) ([]CredentialContext, error) {
	return valuesOf(enumerateAll(ctx, d, uri, func(el *etree.Element) (*CredentialContext, error) { return parseCredentialContext(el, uri) }))
}

// TLSCredentialContexts enumerates AMT_TLSCredentialContext (at most one in
// practice).
func (d *Device) TLSCredentialContexts(ctx context.Context) ([]CredentialContext, error) {
	return d.credentialContexts(ctx, URITLSCredentialContext)
}

// CreateTLSCredentialContext binds the certificate certID (an
// AMT_PublicKeyCertificate InstanceID whose key is in AMT) as the TLS server
// certificate: it reads the protocol endpoint collection to use the device's
// own name, then Creates the AMT_TLSCredentialContext. If a context exists the
// device faults with AlreadyExists (errors.Is(err, wsman.ErrAlreadyExists)):
// use [Device.PutTLSCredentialContext] or [Device.BindTLSCertificate].
func (d *Device) CreateTLSCredentialContext(ctx context.Context, certID string) (*CredentialContext, error) {
	if certID == "" {
		return nil, opError(URITLSCredentialContext, "Create", fmt.Errorf("%w: no certificate InstanceID", ErrInvalidArgument))
	}
	coll, err := d.TLSProtocolEndpointCollection(ctx)
	if err != nil {
		return nil, err
	}
	return d.createTLSCredentialContext(ctx, certID, coll.EPR())
}

// createTLSCredentialContext Creates the AMT_TLSCredentialContext of certID
// with coll as the providing context.
func (d *Device) createTLSCredentialContext(ctx context.Context, certID string, coll wsman.EPR) (*CredentialContext, error) {
	cc := &CredentialContext{
		ElementInContext:        instanceEPR(URIPublicKeyCertificate, certID),
		ElementProvidingContext: coll,
	}
	body := wsman.NewInstance(URITLSCredentialContext,
		wsman.PropEPR("ElementInContext", cc.ElementInContext),
		wsman.PropEPR("ElementProvidingContext", cc.ElementProvidingContext))
	resp, err := d.c.Create(ctx, URITLSCredentialContext, body, d.opts...)
	if err != nil {
		return nil, opError(URITLSCredentialContext, "Create", err)
	}
	epr, err := resp.ResourceCreated()
	if err != nil {
		return nil, opError(URITLSCredentialContext, "Create", fmt.Errorf("%w: %w", ErrBadResponse, err))
	}
	// The created EPR names the instance by its two keys; prefer the device's
	// own form of them.
	if e, ok := epr.Selectors.GetEPR("ElementInContext"); ok {
		cc.ElementInContext = e
	}
	if e, ok := epr.Selectors.GetEPR("ElementProvidingContext"); ok {
		cc.ElementProvidingContext = e
	}
	cc.raw = body
	return cc, nil
}

// PutTLSCredentialContext switches the TLS certificate of the existing context
// cur (from [Device.TLSCredentialContexts]) to certID: Put with no selector,
// the body being the instance as the device sent it with only the
// ElementInContext's InstanceID changed. ElementProvidingContext is echoed
// verbatim — AMT 22 refuses a hand-built one with HTTP 500.
func (d *Device) PutTLSCredentialContext(ctx context.Context, cur *CredentialContext, certID string) (*CredentialContext, error) {
	if cur == nil || cur.raw == nil {
		return nil, opError(URITLSCredentialContext, "Put", ErrNotReadFromDevice)
	}
	if certID == "" {
		return nil, opError(URITLSCredentialContext, "Put", fmt.Errorf("%w: no certificate InstanceID", ErrInvalidArgument))
	}
	body := wsman.Detach(cur.raw)
	eic := cur.ElementInContext
	eic.Selectors = wsman.SelectorSet{wsman.Sel("InstanceID", certID)}
	if eic.ResourceURI == "" {
		eic.ResourceURI = URIPublicKeyCertificate
	}
	setProperty(body, "ElementInContext", wsman.PropEPR("ElementInContext", eic))
	el, err := d.put(ctx, URITLSCredentialContext, nil, body)
	if err != nil {
		return nil, err
	}
	out, err := parseCredentialContext(el, URITLSCredentialContext)
	return out, opError(URITLSCredentialContext, "Put", err)
}

// DeleteTLSCredentialContext deletes c, addressed by its two EPR-valued keys
// (ElementInContext and ElementProvidingContext) as the device reported them.
func (d *Device) DeleteTLSCredentialContext(ctx context.Context, c *CredentialContext) error {
	if c == nil {
		return opError(URITLSCredentialContext, "Delete", fmt.Errorf("%w: no credential context", ErrInvalidArgument))
	}
	return d.del(ctx, URITLSCredentialContext, wsman.SelectorSet{
		wsman.SelEPR("ElementInContext", c.ElementInContext),
		wsman.SelEPR("ElementProvidingContext", c.ElementProvidingContext),
	})
}

// BindTLSCertificate makes certID the TLS server certificate: it Puts the
// existing TLS credential context with the new certificate, or Creates one
// when there is none (and falls back to the Put when Create reports
// AlreadyExists, as RPS does).
func (d *Device) BindTLSCertificate(ctx context.Context, certID string) (*CredentialContext, error) {
	cur, err := d.existingTLSContext(ctx)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		cc, err := d.CreateTLSCredentialContext(ctx, certID)
		if !errors.Is(err, wsman.ErrAlreadyExists) {
			return cc, err
		}
		if cur, err = d.existingTLSContext(ctx); err != nil {
			return nil, err
		}
		if cur == nil {
			return nil, opError(URITLSCredentialContext, "Create", fmt.Errorf("%w: the device reported AlreadyExists but lists no TLS credential context", ErrBadResponse))
		}
	}
	if cur.CertificateInstanceID() == certID {
		return cur, nil
	}
	return d.PutTLSCredentialContext(ctx, cur, certID)
}

// existingTLSContext returns the TLS credential context whose providing
// context is the protocol endpoint collection (either spelling of its name),
// else the first one listed, or nil when there is none.
func (d *Device) existingTLSContext(ctx context.Context) (*CredentialContext, error) {
	ccs, err := d.TLSCredentialContexts(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ccs {
		pc := ccs[i].ElementProvidingContext
		name, _ := pc.Selectors.Get("ElementName")
		if pc.ResourceURI == URITLSProtocolEndpointCollection && IsTLSCollectionName(name) {
			return &ccs[i], nil
		}
	}
	if len(ccs) > 0 {
		return &ccs[0], nil
	}
	return nil, nil
}
