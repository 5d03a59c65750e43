package wsman

// Namespace URIs used in WS-Management envelopes. Elements are always matched by
// these URIs and their local names, never by prefix: AMT assigns prefixes per
// response (a:, b:, c:, g:, h: …) and other servers choose their own.
const (
	// NSSOAP is SOAP 1.2 (prefix s in requests).
	NSSOAP = "http://www.w3.org/2003/05/soap-envelope"
	// NSAddressing is WS-Addressing 2004/08 (prefix wsa).
	NSAddressing = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	// NSWSMan is DMTF WS-Management 1.x (prefix wsman).
	NSWSMan = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	// NSEnumeration is WS-Enumeration 2004/09 (prefix wsen).
	NSEnumeration = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
	// NSTransfer is WS-Transfer 2004/09 (prefix wxf); also the namespace of
	// ResourceCreated in Create responses.
	NSTransfer = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	// NSEventing is WS-Eventing 2004/08 (prefix wse).
	NSEventing = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
	// NSIdentity is the WS-Management identity namespace used by Identify
	// (prefix wsmid).
	NSIdentity = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
	// NSXSI is XML Schema instance (xsi:nil).
	NSXSI = "http://www.w3.org/2001/XMLSchema-instance"
	// NSXML is the namespace bound to the reserved xml prefix (xml:lang).
	NSXML = "http://www.w3.org/XML/1998/namespace"

	// AddressAnonymous is the WS-Addressing anonymous role, used as ReplyTo and
	// as the default Address of an [EPR].
	AddressAnonymous = NSAddressing + "/role/anonymous"
)

// Action URIs of the intrinsic operations and their responses.
const (
	ActionGet               = NSTransfer + "/Get"
	ActionGetResponse       = NSTransfer + "/GetResponse"
	ActionPut               = NSTransfer + "/Put"
	ActionPutResponse       = NSTransfer + "/PutResponse"
	ActionCreate            = NSTransfer + "/Create"
	ActionCreateResponse    = NSTransfer + "/CreateResponse"
	ActionDelete            = NSTransfer + "/Delete"
	ActionDeleteResponse    = NSTransfer + "/DeleteResponse"
	ActionEnumerate         = NSEnumeration + "/Enumerate"
	ActionEnumerateResponse = NSEnumeration + "/EnumerateResponse"
	ActionPull              = NSEnumeration + "/Pull"
	ActionPullResponse      = NSEnumeration + "/PullResponse"
	ActionRelease           = NSEnumeration + "/Release"
	ActionReleaseResponse   = NSEnumeration + "/ReleaseResponse"

	// ActionAddressingFault is the Action of WS-Addressing faults
	// (DestinationUnreachable, ActionNotSupported …).
	ActionAddressingFault = NSAddressing + "/fault"
	// ActionWSManFault is the Action of WS-Management faults (InternalError,
	// AlreadyExists, AccessDenied …).
	ActionWSManFault = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
)

// MethodAction returns the Action URI of an extrinsic method:
// resourceURI + "/" + method.
func MethodAction(resourceURI, method string) string { return resourceURI + "/" + method }

// MethodResponseAction returns the Action URI a method's response carries:
// resourceURI + "/" + method + "Response".
func MethodResponseAction(resourceURI, method string) string {
	return resourceURI + "/" + method + "Response"
}

// request prefixes (amtkit's choice: fixed, the conventional WS-Management
// ones).
const (
	pfxSOAP  = "s"
	pfxAddr  = "wsa"
	pfxWSMan = "wsman"
	pfxEnum  = "wsen"
	pfxIdent = "wsmid"
	pfxClass = "h"
)
