// Package transcript records, redacts, stores and reads transcripts of
// WS-Management sessions: the evidence a device check leaves behind so that a
// test suite can replay what a real device said (as Go's crypto/tls keeps
// recorded handshakes as test data).
//
// # Recording
//
// A [Recorder] is a wsman.Recorder. Give it to a client with
// wsman.Client.WithRecorder: the client's transport, TLS policy and dialer
// are unchanged, and every HTTP exchange — digest challenges and retries
// included — reaches the Recorder after TLS. Each exchange is redacted when
// it is recorded, before it is kept:
//
//	rec := transcript.NewRecorder(transcript.Options{Identifying: true})
//	rec.AddPassword("admin", password) // masked in every form, A1 hashes included
//	dev := amt.NewDevice(client.WithRecorder(rec))
//	… reads …
//	t := rec.Transcript(transcript.Provenance{Firmware: v.String(), Source: transcript.SourceDevice, …})
//	err := t.WriteFile("device.json")
//
// What a transcript never holds: passwords, digest A1 hashes (hex or base64),
// HTTP Basic credentials, digest nonces, client nonces, responses and opaque
// values, OTPs, PPS, private keys (AddKey's KeyBlob, any PKCS#1, PKCS#8 or
// SEC 1 key in base64, hex or PEM), the digest hashes of ACL entries, nor any
// registered secret in its raw, base64 or hex form. Which elements are secret
// and which identify a device is a [Policy]; [AMTPolicy] is Intel AMT's. With
// Options.Identifying, host and domain names, UUIDs, MAC and IP addresses,
// serial numbers, the digest realm and certificates' names become consistent
// placeholders ([Kind]) that still parse where the values did.
//
// Envelopes are rewritten in place, token by token, so a transcript keeps
// the device's written form — prefixes, namespace declarations, sibling
// order, end tags — which a simulator can be compared with.
//
// # Format
//
// A transcript is one JSON document ([Transcript], [Format]
// "amtkit-transcript/1"): its [Provenance] (firmware version, source — real
// device or simulator —, who recorded it, when, with which tool, how it was
// redacted) and its exchanges in order, each with the request (method, path,
// kept headers, envelope) and the response (status, kept headers, envelope)
// or the transport error, the TLS version and cipher suite, and timings in
// milliseconds. [Decode] reads it strictly; docs/field-kit.md describes it
// for contributors.
//
// # Replaying
//
// [RequestKey] says what a request asks (action, resource, selectors and a
// canonical body with secret and volatile values masked), so that a live
// request matches its recorded twin; wsman/wsmantest's Replay answers from
// a transcript with it.
//
// The package knows Intel AMT only through [AMTPolicy]'s lists of property
// names; it imports nothing of amtkit but wsman.
package transcript
