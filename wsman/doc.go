// Package wsman is a WS-Management client: SOAP 1.2 envelopes with WS-Addressing
// 2004/08, WS-Transfer, WS-Enumeration and DMTF WS-Management headers, over HTTP
// with Digest or Basic authentication and a required TLS verification policy.
// It knows nothing of Intel AMT's classes (package amt builds on it), but its
// defaults follow what AMT accepts and sends.
//
// # Calls
//
// A [Client] talks to one endpoint. Every call takes a context, and the client
// is safe for concurrent use:
//
//	c, err := wsman.New("https://host:16993/wsman",
//		wsman.WithDigestAuth("admin", password),
//		wsman.WithTLS(wsman.PinSHA256(recordedHash)))
//	resp, err := c.Get(ctx, uri, nil)                 // WS-Transfer Get
//	inst, err := resp.Instance()                       // the class element
//	fields, err := resp.Fields()                       // map[string][]string
//	for item, err := range c.Enumerate(ctx, uri) { … } // Enumerate + Pull
//	out, err := c.Invoke(ctx, uri, "AddCertificate", nil,
//		wsman.NewInput(uri, "AddCertificate", wsman.Prop("CertificateBlob", b64)))
//	rv, err := out.ReturnValue()
//
// [Client.Put], [Client.Create] and [Client.Delete] complete WS-Transfer;
// [Client.Identify] sends Identify; [Client.Do] sends any [Request].
// Enumerate is a Go iterator: it pulls until EndOfSequence and sends Release
// when the loop stops early. Per-call options ([OperationTimeout],
// [MaxEnvelopeSize], [Locale], [OptionSet], [MaxElements],
// [OptimizeEnumeration], [Mode], [Redact]) override client defaults set with
// [WithCallDefaults]. Header values are sent as given: a server's minimums
// (AMT's) are its binding's business (package amt's ClientOptions).
//
// # Bounds
//
// A server cannot hold a call or grow the client without bound. Every call
// has a deadline: [WithCallTimeout] bounds every call (the context's deadline
// wins when sooner); without it the context's deadline, or
// [DefaultCallTimeout] (90 s) when the context has none. So a silent server
// frees the call and the in-flight slot. Response bodies are capped
// ([WithMaxResponseBytes]) and nesting bounded ([WithMaxDepth]). An
// enumeration stops after [MaxPulls] Pulls, [MaxEnumerationItems] items or
// [MaxEnumerationBytes] of kept items ([ErrTooManyPulls],
// [ErrEnumerationTooLarge]), and its items are copied out of each page so
// that the pages themselves are not kept.
//
// # Envelopes
//
// Requests are built with github.com/beevik/etree, never by string
// concatenation, so every value is escaped. The MessageID is "uuid:" and a
// random UUID; the response's RelatesTo must equal it and its Action must be the
// expected response action. Responses are matched by namespace URI and local
// name only ([Child], [Children], [Is]): AMT assigns prefixes per response. Input
// that holds a DOCTYPE or entity declaration, nests too deep or exceeds the
// size cap is refused before it is interpreted.
//
// Bodies are *etree.Element values. Build them with [NewInstance], [NewInput],
// [Prop], [PropEPR] and [PropArray], or from a struct with [Marshal]; read them
// with [Fields] or into a struct with [Unmarshal]. [EPR] and [SelectorSet]
// model endpoint references and selectors, EPR-valued selectors included.
// [Detach] moves an element between documents with the namespace declarations
// it inherited (Put uses it, so an instance read with Get can be sent back).
//
// # Errors
//
//   - [*Fault]: a SOAP fault, at any HTTP status. errors.Is matches subcode
//     sentinels such as [ErrDestinationUnreachable] (on AMT: the class does not
//     exist on this SKU) and [ErrAlreadyExists]; Detail holds the detail text
//     (AMT's "AMT-STATUS n", which package amt reads: amt.StatusOfFault).
//   - [*HTTPError]: a non-2xx status without a fault; [ErrUnauthorized] for a
//     401 to a request that carried credentials.
//   - [*TransportError]: the connection failed. errors.Is with [ErrConnect]
//     means the request was never sent — and a [*TLSPolicyError] in the chain
//     that the server was reached but refused by the TLS policy; with
//     [ErrResponseLost] that it was sent in full and the answer was lost — the
//     server may have acted on it (AMT 19+ drops the connection when it
//     commits configuration changes).
//
// # Authentication
//
// [WithDigestAuth] builds on github.com/icholy/digest, wrapped for AMT: the
// challenge cache belongs to the client (so to one endpoint, even when many
// endpoints share a host through a relay or on loopback); after the first 401
// each call is one HTTP exchange; a stale nonce is retried once, and so is a
// cached nonce the server refuses while naming a new one (as go-wsman-messages
// and MeshCentral do); a 401 after a fresh challenge is returned at once as
// [ErrUnauthorized], so a wrong password is never tried more than twice in a
// call and once in the calls after, and cannot lock the account. A
// [DigestPolicy] ([WithDigestPolicy]) refuses weak challenges before any
// credentials are sent: qop is required by default, and a minimum algorithm
// can be set. Credentials never appear in errors or logs.
// [ParseDigestChallenge] and [HTTPError.DigestRealm] read a device's realm
// from a 401.
//
// # TLS
//
// An https endpoint needs a [TLSPolicy]: [PinSHA256] (a recorded device
// certificate), [VerifyChain] with the expected host name, [VerifyChainAnyHost]
// for AMT 19+ certificates that carry no name, optionally with
// [CheckRevocation] which fails closed, [VerifyFunc], or — named so —
// [InsecureSkipVerify]. The client runs the handshake itself and then the
// policy, with the dial's context, before any request byte; a refusal is a
// [*TLSPolicyError]. [WithDialer] supplies the raw connections (TLS is still
// the client's); [WithSecureDialer] supplies connections the caller already
// secured (TLS-PSK, an APF tunnel), with no policy and no TLS options.
// [WithClock] and [WithRand] drive the handshake's time and randomness. Client
// certificates go through GetClientCertificate ([WithClientCertificate]), so
// they are sent even when the server's CA list does not name their issuer.
// [WithRSAKeyExchange] adds the RSA key-exchange suites AMT 11–12 need;
// [WithLegacyTLS] also allows TLS 1.0/1.1 for older firmware.
//
// # Transport and logging
//
// The default transport keeps connections alive (two per host) and follows no
// redirects; [WithRoundTripper] and [WithHTTPClient] plug in LMS, CIRA/APF
// channels or relays. [WithLogger] logs calls and envelopes at debug level with
// secret elements masked: [DefaultRedactor] always, plus names added with
// [WithRedaction] (every call) or [Redact] (one call).
//
// Package wsmantest is the server side for fakes and simulators.
package wsman
