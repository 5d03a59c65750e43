package amtsim

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
)

// principalKind is how a request was authenticated.
type principalKind int

const (
	whoNone  principalKind = iota
	whoRCFG                // a remote-configuration TLS (or PSK) session: trusted as admin
	whoLocal               // the $$OsAdmin local system account
	whoAdmin               // the admin ACL entry
	whoUser                // a user ACL entry
)

type principal struct {
	kind  principalKind
	user  string
	entry *aclEntry
}

// call is one WS-Man request being served.
type call struct {
	req   *wsmantest.Request
	who   principal
	sc    *simConn
	after []func()
	// drop closes the connection instead of answering (after the request took
	// effect); hang never answers.
	drop, hang bool
	// fault, set by a method, is answered instead of its output.
	fault *wsmantest.Fault
}

func (c *call) then(f func()) { c.after = append(c.after, f) }

// ServeHTTP serves the WS-Man endpoint /wsman on both listeners.
func (d *Device) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sc := connFrom(r.Context())
	if sc == nil {
		http.Error(w, "amtsim: unknown connection", http.StatusInternalServerError)
		return
	}
	d.ctr.exchanges.Add(1)
	if d.isUnresponsive() {
		d.hang(r)
		return
	}
	if lat := d.exchangeDelay(); lat > 0 {
		if err := d.sleep(r.Context(), lat); err != nil {
			hijackClose(w)
			return
		}
	}
	if sc.info.role == roleTLS && !d.remoteOpen() {
		// The provisioning window closed under an open connection.
		hijackClose(w)
		return
	}
	if r.URL.Path != "/wsman" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	who, ok := d.authenticate(w, r, sc)
	if !ok {
		d.ctr.unauthorized.Add(1)
		return
	}
	req, err := wsmantest.ReadRequest(r, 0)
	if err != nil {
		_ = d.wr.Write(w, nil, wsmantest.FaultReply(wsmantest.SenderFault("SchemaValidationError", "The request does not decode.")))
		return
	}
	n := int(d.reqSeq.Add(1))
	op := opName(req)
	drop := d.dropFor(op, req.ResourceURI, n)
	if drop == DropNone && d.firstRequestDrop(sc, r) {
		drop = DropRequest
	}
	if drop == DropRequest {
		d.debug("dropping connection before the request", slog.String("op", op))
		hijackClose(w)
		return
	}
	if lat := d.methodDelay(op); lat > 0 {
		if err := d.sleep(r.Context(), lat); err != nil {
			// The client went away: close without an answer (returning would
			// send an empty 200 that a client racing its own cancellation
			// could still read as a reply).
			hijackClose(w)
			return
		}
	}
	c := &call{req: req, who: who, sc: sc}
	rep := d.dispatch(c)
	if c.hang {
		d.hang(r)
		return
	}
	if c.drop || drop == DropResponse {
		d.debug("dropping connection instead of answering", slog.String("op", op))
		hijackClose(w)
		for _, f := range c.after {
			f()
		}
		return
	}
	// Actions that cut connections wait until the response is complete (the
	// server reports the connection idle or closed).
	sc.info.mu.Lock()
	sc.info.pending = append(sc.info.pending, c.after...)
	sc.info.mu.Unlock()
	_ = d.wr.Write(w, req, declareCIMCommon(rep))
}

// connState runs the actions a request left for after its response.
func connState(c net.Conn, s http.ConnState) {
	if s != http.StateIdle && s != http.StateClosed && s != http.StateHijacked {
		return
	}
	var sc *simConn
	switch x := c.(type) {
	case *simConn:
		sc = x
	case interface{ NetConn() net.Conn }:
		sc, _ = x.NetConn().(*simConn)
	}
	if sc == nil {
		return
	}
	sc.info.mu.Lock()
	pending := sc.info.pending
	sc.info.pending = nil
	sc.info.mu.Unlock()
	for _, f := range pending {
		f()
	}
}

func (d *Device) remoteOpen() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remoteOpenLocked()
}

func (d *Device) isUnresponsive() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.unresponsive
}

// hang blocks until the client gives up or the device closes.
func (d *Device) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-d.done:
	}
	if sc := connFrom(r.Context()); sc != nil {
		_ = sc.Conn.Close()
	}
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
				_ = tc.NetConn().Close()
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (d *Device) sleep(ctx context.Context, dur time.Duration) error {
	if s := d.cfg.Behavior.Sleep; s != nil {
		return s(ctx, dur)
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Device) dropFor(op, uri string, n int) Drop {
	b := &d.cfg.Behavior
	if b.DropFunc != nil {
		if m := b.DropFunc(op, uri, n); m != DropNone {
			return m
		}
	}
	if b.DropEvery > 0 && n%b.DropEvery == 0 {
		if b.DropEveryMode == DropNone {
			return DropRequest
		}
		return b.DropEveryMode
	}
	return DropNone
}

// opName names a request for drop rules: the method name or the operation.
func opName(r *wsmantest.Request) string {
	if m, ok := r.Method(); ok {
		return m
	}
	if r.IsIdentify() {
		return "Identify"
	}
	return wsman.ClassName(r.Action)
}

// authenticate decides who is calling, writing a 401 when it cannot tell.
func (d *Device) authenticate(w http.ResponseWriter, r *http.Request, sc *simConn) (principal, bool) {
	rcfg, _, _ := sc.info.remoteConfig()
	d.mu.Lock()
	prov := d.st.prov
	if rcfg && prov != amt.PostProvisioning {
		// The TLS client certificate (or the PSK) authenticated the
		// configuration server; digest is not required (an inference:
		// MeshCentral amtprovisioningserver.js connects as admin with an empty
		// password). Credentials for admin are accepted whatever their password.
		if prov == amt.PreProvisioning {
			d.st.prov = amt.InProvisioning
		}
		if sc.info.role == roleLocalTLS {
			// Secure host-based configuration: the configuration server is
			// in admin control; "in provisioning" until CommitChanges
			// (rpc-go issue 1461 finds devices halted here).
			d.st.mode = amt.ControlModeACM
		}
		d.st.contacted = true
		d.mu.Unlock()
		if u := authUser(r); u != "" && u != adminUserDefault {
			d.digest.challenge(w, false)
			return principal{}, false
		}
		return principal{kind: whoRCFG, user: adminUserDefault}, true
	}
	remoteHTTPAllowed := d.plat.remoteNonTLS && (!d.st.applied.enabled || d.st.applied.acceptNonSecure)
	d.mu.Unlock()
	var kind principalKind
	var entry *aclEntry
	lookup := func(user string) ([]byte, bool) {
		if user == localSystemUser {
			if sc.info.role == roleTLS { // local ports only (LMS 16992, or 16993 where TLS is enforced)
				return nil, false
			}
			kind = whoLocal
			return a1(localSystemUser, d.realm, d.localPass.Reveal()), true
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		// The admin account works once provisioned, and while a host-based
		// Setup waits for the admin's commit (localtls.go).
		if (d.st.prov != amt.PostProvisioning && !d.st.hb.pendingCommit) || (sc.info.role == roleHTTP && !remoteHTTPAllowed) {
			return nil, false
		}
		if user == d.st.adminUser {
			kind = whoAdmin
			return d.st.adminA1, true
		}
		for _, u := range d.st.users {
			if u.user == user && u.enabled && u.a1 != nil {
				kind, entry = whoUser, u
				return u.a1, true
			}
		}
		return nil, false
	}
	user, ok, stale := d.digest.verify(r, lookup)
	if !ok {
		if r.Header.Get("Authorization") != "" {
			d.debug("digest authentication failed", slog.String("user", user), slog.Bool("stale", stale))
		}
		d.digest.challenge(w, stale)
		return principal{}, false
	}
	return principal{kind: kind, user: user, entry: entry}, true
}

// authUser returns the user name of an Authorization header, if any.
func authUser(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	if len(auth) < 7 {
		return ""
	}
	switch {
	case auth[:6] == "Basic " || auth[:6] == "basic ":
		if u, _, ok := r.BasicAuth(); ok {
			return u
		}
	case auth[:7] == "Digest " || auth[:7] == "digest ":
		p, err := wsmantest.ParseAuthParams(auth[7:])
		if err == nil {
			return p["username"]
		}
	}
	return ""
}
