package amt

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/amtkit/amtkit/wsman"
	"github.com/beevik/etree"
)

// Resource URIs of the classes [Device] uses (intel/lms CIM_Framework class
// headers, CLASS_URI). The XML namespace of each class's elements equals its
// resource URI (CLASS_NS is the same string there).
const (
	URIGeneralSettings               = amtSchema + "AMT_GeneralSettings"
	URISoftwareIdentity              = cimSchema + "CIM_SoftwareIdentity"
	URISetupAndConfigurationService  = amtSchema + "AMT_SetupAndConfigurationService"
	URIHostBasedSetupService         = ipsSchema + "IPS_HostBasedSetupService"
	URIAuthorizationService          = amtSchema + "AMT_AuthorizationService"
	URITimeSynchronizationService    = amtSchema + "AMT_TimeSynchronizationService"
	URIPublicKeyManagementService    = amtSchema + "AMT_PublicKeyManagementService"
	URIPublicKeyCertificate          = amtSchema + "AMT_PublicKeyCertificate"
	URIPublicPrivateKeyPair          = amtSchema + "AMT_PublicPrivateKeyPair"
	URITLSSettingData                = amtSchema + "AMT_TLSSettingData"
	URITLSProtocolEndpointCollection = amtSchema + "AMT_TLSProtocolEndpointCollection"
	URITLSCredentialContext          = amtSchema + "AMT_TLSCredentialContext"
	URIIEEE8021xSettings             = ipsSchema + "IPS_IEEE8021xSettings"
	URIIEEE8021xCredentialContext    = ipsSchema + "IPS_8021xCredentialContext"
	URI8021XProfile                  = amtSchema + "AMT_8021XProfile"
	URIAMT8021xCredentialContext     = amtSchema + "AMT_8021xCredentialContext"
	amtSchema                        = "http://intel.com/wbem/wscim/1/amt-schema/1/"
	ipsSchema                        = "http://intel.com/wbem/wscim/1/ips-schema/1/"
	cimSchema                        = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
)

// secretElements returns the element names a [Device] (on each of its calls)
// and a client built with [ClientOptions] mask in logged envelopes, beyond
// wsman.DefaultRedactor (which already masks every name
// containing "password", "passphrase", "secret", "privatekey" or "psk"): the
// provisioning OTP, a private key sent to AddKey, 802.1X credentials and the
// digest hashes (whose names contain "Password" but are listed for clarity).
func secretElements() []string {
	return []string{
		"Password", "DigestPassword", "NetworkAdminPassword", "ProvisioningServerOTP",
		"KeyBlob", "PACPassword", "PSK", "ProtectedAccessCredential",
	}
}

// redactSecrets masks secretElements; built once and shared by every client
// and device (it is read-only), so that thousands of sessions do not each hold
// their own copies of the same set.
var redactSecrets = sync.OnceValue(func() wsman.Redactor { return wsman.RedactElements(secretElements()...) })

// Device is a typed view of one Intel AMT device over a [*wsman.Client]: each
// method is one WS-Management call (or a documented short sequence of calls) on
// one AMT, IPS or CIM class, with typed arguments and results.
//
// # Creating one
//
// Build the client with the transport, credentials and TLS policy the
// situation needs, then wrap it:
//
//	c, err := amt.NewClient("https://10.0.0.5:16993/wsman",
//		wsman.WithDigestAuth("admin", pw),
//		wsman.WithTLS(wsman.PinSHA256(recorded)))
//	dev := amt.NewDevice(c)
//	v, err := dev.Version(ctx)
//
// [NewClient] is wsman.New with [ClientOptions] (AMT's header values and log
// redaction) applied first; a client from wsman.New works too. Every call a
// Device makes masks the elements that carry secrets (OTP, digest hashes,
// private keys, 802.1X passwords) in the client's logged envelopes (a
// per-call wsman.Redact), so a client logger never prints them; the Device
// never changes the client it is given. Calls made directly on the client are
// masked the same way when it was built with [NewClient] or [ClientOptions].
// A Device holds no state of its own beyond the client: it is safe for
// concurrent use exactly as the client is.
//
// # What it covers
//
//   - General settings (AMT_GeneralSettings): digest realm, host and domain
//     name — [Device.GeneralSettings], [Device.PutGeneralSettings],
//     [Device.SetHostName].
//   - Software identity (CIM_SoftwareIdentity): the firmware version —
//     [Device.SoftwareIdentity], [Device.Version].
//   - Setup and configuration (AMT_SetupAndConfigurationService): provisioning
//     state and mode, DNS suffixes, OTP, UUID, SetMEBxPassword, CommitChanges,
//     ExtendProvisioningPeriod, Unprovision.
//   - Host-based setup (IPS_HostBasedSetupService): ConfigurationNonce,
//     control modes, AddNextCertInChain, Setup, AdminSetup,
//     UpgradeClientToAdmin, DisableClientControlMode.
//   - Authorization (AMT_AuthorizationService): the admin and user ACL entries.
//   - Time (AMT_TimeSynchronizationService): [Device.SyncClock].
//   - Public keys (AMT_PublicKeyManagementService, AMT_PublicKeyCertificate,
//     AMT_PublicPrivateKeyPair): key generation, CSRs signed in AMT,
//     certificates and trusted roots.
//   - TLS (AMT_TLSSettingData, AMT_TLSProtocolEndpointCollection,
//     AMT_TLSCredentialContext).
//   - 802.1X (IPS_IEEE8021xSettings with SetCertificates,
//     IPS_8021xCredentialContext, the legacy AMT_8021XProfile).
//   - Wi-Fi (AMT_WiFiPortConfigurationService with AddWiFiSettings and
//     UpdateWiFiSettings, CIM_WiFiEndpointSettings, CIM_IEEE8021xSettings,
//     CIM_CredentialContext, CIM_WiFiPort, AMT_BootCapabilities' UEFI flag)
//     and Ethernet (AMT_EthernetPortSettings).
//   - Redirection, KVM and user consent (AMT_RedirectionService,
//     CIM_KVMRedirectionSAP, IPS_KVMRedirectionSettingData,
//     IPS_OptInService): the settings, the consent policy and the consent
//     flow — [Device.StartOptIn], [Device.SendOptInCode], [Device.CancelOptIn].
//
// docs/device.md lists every method with its class, method name, ReturnValue
// family and the firmware quirks it handles.
//
// # Errors
//
// Every error a Device method returns is an [*OpError] naming the class and
// the operation. Inside it, test with errors.Is and errors.As:
//
//   - a method that ran and returned a non-zero ReturnValue gives a
//     [*ReturnValueError], decoded with the method's own value map
//     (Intel AMT SDK, errorsandreturnvalues.htm; go-wsman-messages decoders):
//     AMT_ methods return PT_STATUS, so errors.Is(err, amt.StatusDataMissing)
//     works;
//     IPS_HostBasedSetupService has its own enumerations, so AdminSetup's 5 is
//     [ErrHostSetupAuthFailed] — and never amt.Status(5); so has
//     IPS_OptInService, whose SendOptInCode 2066 is [ErrOptInWrongCode]; CIM
//     methods return 32768 + PT_STATUS, matched by the PT_STATUS;
//   - a fault on an intrinsic operation (Get, Put, Create, Delete, Enumerate)
//     gives the [*wsman.Fault], and when its detail carries "AMT-STATUS n"
//     errors.Is(err, amt.Status(n)) matches as well;
//   - transport failures stay [*wsman.TransportError]: errors.Is(err,
//     wsman.ErrResponseLost) after CommitChanges means the device may have
//     committed and dropped the connection (AMT 19+) — read the state back;
//   - [ErrBadResponse] when the device answered something else than the
//     operation's own output (each method's body is checked to be its own
//     <Method>_OUTPUT in the class namespace, with a ReturnValue);
//   - [ErrInvalidArgument] when an argument is refused before anything is sent
//     (a weak MEBx password, a McNonce that is not 20 bytes …).
//
// Secrets (passwords, digests, the OTP, private keys) never appear in errors.
//
// # Reading and writing instances
//
// Structs read from the device ([GeneralSettings], [SetupAndConfiguration],
// [TLSSettingData], [IEEE8021xSettings], [IEEE8021xProfile]) remember the
// instance the device sent. Their Put methods send that instance back with only
// the properties the caller changed replaced — unknown and read-only
// properties are echoed as the device sent them, and properties the device
// omitted stay omitted unless set. A struct not read from the device cannot be
// Put ([ErrNotReadFromDevice]): writing guessed defaults could, for example,
// switch off AMT's network interface, which cannot be undone remotely.
type Device struct {
	c    *wsman.Client
	opts []wsman.CallOption // on every call: the secret elements masked in logs
}

// NewDevice returns a Device that talks through c. c must not be nil and is
// not modified: the Device masks secret-carrying elements in logged envelopes
// call by call. Several Devices may share one client.
func NewDevice(c *wsman.Client) *Device {
	if c == nil {
		panic("amt: NewDevice with a nil *wsman.Client")
	}
	return &Device{c: c, opts: []wsman.CallOption{wsman.Redact(redactSecrets())}}
}

// Client returns the underlying client (for calls Device does not model, and
// for SetCredentials after a password change).
func (d *Device) Client() *wsman.Client { return d.c }

// ---- calls -------------------------------------------------------------

// get reads one instance of uri.
func (d *Device) get(ctx context.Context, uri string, sel wsman.SelectorSet) (*etree.Element, error) {
	resp, err := d.c.Get(ctx, uri, sel, d.opts...)
	if err != nil {
		return nil, opError(uri, "Get", err)
	}
	el, err := instanceOf(resp.Envelope, uri)
	if err != nil {
		return nil, opError(uri, "Get", err)
	}
	return el, nil
}

// put sends body and returns the instance the device echoed (or body itself
// when the device answered with an empty PutResponse, which WS-Transfer
// allows).
func (d *Device) put(ctx context.Context, uri string, sel wsman.SelectorSet, body *etree.Element) (*etree.Element, error) {
	resp, err := d.c.Put(ctx, uri, sel, body, d.opts...)
	if err != nil {
		return nil, opError(uri, "Put", err)
	}
	if resp.Content() == nil {
		return body, nil
	}
	el, err := instanceOf(resp.Envelope, uri)
	if err != nil {
		return nil, opError(uri, "Put", err)
	}
	return el, nil
}

// del deletes one instance of uri.
func (d *Device) del(ctx context.Context, uri string, sel wsman.SelectorSet) error {
	if _, err := d.c.Delete(ctx, uri, sel, d.opts...); err != nil {
		return opError(uri, "Delete", err)
	}
	return nil
}

// enumerateAll enumerates uri and parses every instance; the first that does
// not parse fails the call.
func enumerateAll[T any](ctx context.Context, d *Device, uri string, parse func(*etree.Element) (*T, error)) ([]*T, error) {
	els, err := d.enumerate(ctx, uri)
	if err != nil {
		return nil, err
	}
	out := make([]*T, 0, len(els))
	for _, el := range els {
		v, err := parse(el)
		if err != nil {
			return nil, opError(uri, "Enumerate", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// getAs reads the uri instance sel names and parses it.
func getAs[T any](ctx context.Context, d *Device, uri string, sel wsman.SelectorSet, parse func(*etree.Element) (*T, error)) (*T, error) {
	el, err := d.get(ctx, uri, sel)
	if err != nil {
		return nil, err
	}
	v, err := parse(el)
	return v, opError(uri, "Get", err)
}

// putEdited writes back cur, read from the device as src: the instance as
// read with the changed properties replaced (force: always sent; drop: never
// sent), Put to the uri instance sel names, and the device's answer parsed.
func putEdited[T any](ctx context.Context, d *Device, uri string, sel wsman.SelectorSet, src *source, cur *T, force, drop []string, parse func(*etree.Element) (*T, error)) (*T, error) {
	body, err := src.edited(cur, force, drop)
	if err != nil {
		return nil, opError(uri, "Put", err)
	}
	el, err := d.put(ctx, uri, sel, body)
	if err != nil {
		return nil, err
	}
	out, err := parse(el)
	return out, opError(uri, "Put", err)
}

// valuesOf turns the result of [enumerateAll] into values, for the calls that
// return them.
func valuesOf[T any](ps []*T, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	out := make([]T, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out, nil
}

// enumerate lists the instances of uri, each checked to be a uri instance.
func (d *Device) enumerate(ctx context.Context, uri string) ([]*etree.Element, error) {
	items, err := d.c.EnumerateAll(ctx, uri, d.opts...)
	if err != nil {
		return nil, opError(uri, "Enumerate", err)
	}
	out := make([]*etree.Element, 0, len(items))
	for _, it := range items {
		if err := checkInstance(it.Object, uri); err != nil {
			return nil, opError(uri, "Enumerate", err)
		}
		out = append(out, it.Object)
	}
	return out, nil
}

// invoke calls uri/method with props as the input parameters (in the order
// given, which must be the MOF order) and returns the method's output element
// after checking that it is <method>_OUTPUT in the class namespace and that its
// ReturnValue is 0. A non-zero ReturnValue gives a *ReturnValueError (inside an
// *OpError) together with the output element.
func (d *Device) invoke(ctx context.Context, uri, method string, sel wsman.SelectorSet, props ...wsman.Property) (*etree.Element, error) {
	resp, err := d.c.Invoke(ctx, uri, method, sel, wsman.NewInput(uri, method, props...), d.opts...)
	if err != nil {
		return nil, opError(uri, method, err)
	}
	out, err := checkOutput(resp.Envelope, uri, method)
	if err != nil {
		return out, opError(uri, method, err)
	}
	return out, nil
}

// ---- response checks ---------------------------------------------------

// instanceOf returns the body's instance after checking that it is an element
// named after the class in the class namespace.
func instanceOf(env *wsman.Envelope, uri string) (*etree.Element, error) {
	el := env.Content()
	if err := checkInstance(el, uri); err != nil {
		return nil, err
	}
	return el, nil
}

func checkInstance(el *etree.Element, uri string) error {
	class := wsman.ClassName(uri)
	if !wsman.Is(el, uri, class) {
		return fmt.Errorf("%w: expected a %s instance in namespace %s, got %s", ErrBadResponse, class, uri, describeEl(el))
	}
	return nil
}

// checkOutput returns the body's <method>_OUTPUT element, in the class
// namespace, and checks its ReturnValue against the method's own family. It
// never reads another method's output element: the response to CommitChanges
// is checked as CommitChanges_OUTPUT, not as whatever element happens to come
// first.
func checkOutput(env *wsman.Envelope, uri, method string) (*etree.Element, error) {
	want := method + "_OUTPUT"
	out := env.Content()
	if !wsman.Is(out, uri, want) {
		return nil, fmt.Errorf("%w: expected %s in namespace %s, got %s", ErrBadResponse, want, uri, describeEl(out))
	}
	rv, err := returnValue(out)
	if err != nil {
		return out, err
	}
	if rv != 0 {
		return out, &ReturnValueError{Class: wsman.ClassName(uri), Method: method, Value: rv}
	}
	return out, nil
}

// returnValue reads the ReturnValue child of a method output.
func returnValue(out *etree.Element) (uint32, error) {
	els := wsman.Children(out, "", "ReturnValue")
	switch len(els) {
	case 0:
		return 0, fmt.Errorf("%w: %w in %s", ErrBadResponse, wsman.ErrNoReturnValue, out.Tag)
	case 1:
	default:
		return 0, fmt.Errorf("%w: %d ReturnValue elements in %s", ErrBadResponse, len(els), out.Tag)
	}
	s := wsman.Text(els[0])
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: ReturnValue %q in %s is not a uint32", ErrBadResponse, truncate(s), out.Tag)
	}
	return uint32(v), nil
}

func describeEl(el *etree.Element) string {
	if el == nil {
		return "nothing"
	}
	if ns := el.NamespaceURI(); ns != "" {
		return "{" + ns + "}" + el.Tag
	}
	return el.Tag
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
