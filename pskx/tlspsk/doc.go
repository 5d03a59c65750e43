// Package tlspsk is the TLS-PSK handshake (RFC 4279) between a configuration
// server and an Intel AMT device provisioned with a PID/PPS pair
// ([github.com/amtkit/amtkit/pskx]): the client side, and the server side for
// simulators.
//
// No maintained Go library implements the RFC 4279 PSK cipher suites, so this
// package carries its own small TLS 1.0–1.2 handshake for exactly them
// (TLS_PSK_WITH_AES_128_CBC_SHA, _AES_256_CBC_SHA, _AES_128_CBC_SHA256 and
// _AES_256_CBC_SHA384), built on crypto/aes, crypto/cipher, crypto/hmac and the
// SHA hashes, with the TLS PRF of RFC 2246/5246. It is written as straight-line
// steps like crypto/tls; records are checked in constant time (padding and MAC,
// the Lucky Thirteen countermeasure), verify_data is compared in constant time,
// TLS 1.0 writes use 1/n−1 record splitting, TLS 1.1+ use explicit random IVs,
// and renegotiation is refused (a no_renegotiation warning answers each
// HelloRequest or ClientHello after the handshake; a peer that keeps asking is
// cut off like one that sends empty records). During the handshake a client
// ignores a HelloRequest (RFC 5246 §7.4.1.1), at most 4 of them. Application
// data interleaved with the fragments of a post-handshake message is returned
// in order (RFC 5246 §6.2.1). Every malformed message, alert and limit ends in
// a typed error ([*AlertError], [*MessageError], [*RecordHeaderError] and the
// Err… sentinels).
//
// AMT is the TLS server; the configuration server is the client:
//
//	cfg := tlspsk.Derivation{}.ClientConfig(pid, pps)
//	conn, err := tlspsk.Dial(ctx, "tcp", "192.0.2.10:16993", cfg)
//
// [Server] and [NewListener] give the server side (for simulators) with a
// key lookup by identity, for example [Derivation.KeyLookup] over a [pskx.Store].
// [Conn.ConnectionState] reports the negotiated version and suite for logging.
//
// Which identity, key and suites the firmware uses is not public. amtkit
// assumes identity = the PID's 8 characters and key = the PPS's 32 ASCII
// characters (the zero [Derivation]); replace the functions of a [Derivation]
// to try another convention. PSK-era firmware speaks TLS 1.0 (AMT added TLS 1.2
// in release 12), so a client should allow TLS 1.0.
package tlspsk
