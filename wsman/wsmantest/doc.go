// Package wsmantest is the server side of WS-Management for fakes and
// simulators: it decodes request envelopes ([ParseRequest], [ReadRequest]),
// writes responses and faults shaped the way Intel AMT shapes them ([Writer],
// [Reply], [GetResponse], [PullResponse], [InternalError] …), keeps enumeration
// contexts ([Enumerations]) and puts HTTP Digest authentication with AMT's
// challenge form in front of a handler ([DigestAuth]).
//
// A minimal fake:
//
//	var enums wsmantest.Enumerations
//	h := wsmantest.Handler(func(r *wsmantest.Request) wsmantest.Reply {
//		if rep, ok := enums.Serve(r, instances); ok {
//			return rep
//		}
//		switch r.Action {
//		case wsman.ActionGet:
//			return wsmantest.GetResponse(r, instance)
//		}
//		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
//	})
//	auth := &wsmantest.DigestAuth{Password: func(u string) (string, bool) { return "P@ssw0rd", u == "admin" }}
//	srv := httptest.NewServer(auth.Wrap(h))
//
// [NewReplay] answers from a transcript of a real session (package
// wsman/transcript; docs/field-kit.md), so a test runs against what a device
// said rather than against a fake's idea of it.
//
// Nothing here is meant for production servers: it trusts its handler, keeps
// nonces in memory without bound, and exists to make tests exact.
package wsmantest
