package amt

import (
	"context"
	"strconv"
	"testing"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTLSSettingsRecorded(t *testing.T) {
	tests := []struct {
		src                   vectorSource
		remoteAcceptNonSecure bool
	}{
		{ownSource, true},
		{recordedSource, false},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			ctx := context.Background()
			rs := tc.src.load(t, "amt/tls/settingdata/get", "amt/tls/settingdata/put", "amt/tls/settingdata/pull")
			items := rs.items(t, "amt/tls/settingdata/pull")
			var putBody *etree.Element
			d, f := newFake(t, nil)
			f.handle(func(r *wsmantest.Request) wsmantest.Reply {
				switch r.Action {
				case wsman.ActionGet:
					return rs.reply(t, r, "amt/tls/settingdata/get")
				case wsman.ActionPut:
					putBody = wsman.Detach(r.Input)
					return rs.reply(t, r, "amt/tls/settingdata/put")
				}
				rep, _ := f.enums.Serve(r, items)
				return rep
			})
			all, err := d.TLSSettings(ctx)
			require.NoError(t, err)
			require.Len(t, all, 2)
			assert.Equal(t, TLSRemoteInstanceID, all[0].InstanceID)
			assert.True(t, all[0].Remote())
			assert.Equal(t, tc.remoteAcceptNonSecure, all[0].AcceptNonSecureConnections)
			assert.Equal(t, TLSLocalInstanceID, all[1].InstanceID)
			assert.False(t, all[1].Remote())
			assert.True(t, all[1].AcceptNonSecureConnections)
			for _, s := range all {
				assert.False(t, s.Enabled)
				assert.False(t, s.MutualAuthentication)
				assert.Nil(t, s.NonSecureConnectionsSupported)
				assert.Empty(t, s.TrustedCN)
			}

			remote, err := d.TLSSetting(ctx, TLSRemoteInstanceID)
			require.NoError(t, err)
			get := f.requests()[len(f.requests())-1]
			assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", TLSRemoteInstanceID)}, get.Selectors)
			assert.Equal(t, URITLSSettingData, get.ResourceURI)

			remote.Enabled = true
			remote.TrustedCN = []string{"console.example.com", "backup.example.com"}
			stored, err := d.PutTLSSettings(ctx, remote)
			require.NoError(t, err)
			assert.Equal(t, TLSRemoteInstanceID, stored.InstanceID, "the PutResponse echoes the instance")
			put := f.requests()[len(f.requests())-1]
			assert.Equal(t, wsman.ActionPut, put.Action)
			assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", TLSRemoteInstanceID)}, put.Selectors, "TLS settings are addressed by InstanceID")
			ps := params(t, putBody)
			assert.Equal(t, []string{"AcceptNonSecureConnections", "ElementName", "Enabled", "InstanceID", "MutualAuthentication", "TrustedCN", "TrustedCN"}, names(ps))
			assert.Equal(t, map[string][]string{
				"AcceptNonSecureConnections": {strconv.FormatBool(tc.remoteAcceptNonSecure)}, "ElementName": {TLSRemoteInstanceID}, "Enabled": {"true"},
				"InstanceID": {TLSRemoteInstanceID}, "MutualAuthentication": {"false"},
				"TrustedCN": {"console.example.com", "backup.example.com"},
			}, values(ps))

			_, err = d.PutTLSSettings(ctx, &TLSSettingData{InstanceID: TLSRemoteInstanceID, Enabled: true})
			require.ErrorIs(t, err, ErrNotReadFromDevice)
		})
	}
}

// TestTLSSettingsNonSecure: with NonSecureConnectionsSupported present and
// false, AcceptNonSecureConnections stays out of the Put (RPS); without
// MutualAuthentication on the device, enabling still sends it.
func TestTLSSettingsNonSecure(t *testing.T) {
	ctx := context.Background()
	stored := instance(URITLSSettingData,
		wsman.Prop("AcceptNonSecureConnections", "false"),
		wsman.Prop("ElementName", TLSRemoteInstanceID),
		wsman.Prop("Enabled", "false"),
		wsman.Prop("InstanceID", TLSRemoteInstanceID),
		wsman.Prop("NonSecureConnectionsSupported", "false"))
	var putBody *etree.Element
	d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		if r.Action == wsman.ActionPut {
			putBody = wsman.Detach(r.Input)
			return wsmantest.PutResponse(r, r.Input)
		}
		return wsmantest.GetResponse(r, stored)
	})
	s, err := d.TLSSetting(ctx, TLSRemoteInstanceID)
	require.NoError(t, err)
	require.NotNil(t, s.NonSecureConnectionsSupported)
	assert.False(t, *s.NonSecureConnectionsSupported)
	s.Enabled = true
	s.AcceptNonSecureConnections = true // not changeable here: sent as read
	_, err = d.PutTLSSettings(ctx, s)
	require.NoError(t, err)
	ps := params(t, putBody)
	// The read-only NonSecureConnectionsSupported is not sent back
	// (go-wsman-messages, rpc-go); AcceptNonSecureConnections is, as read
	// (rpc-go, RPS).
	assert.Equal(t, []string{"AcceptNonSecureConnections", "ElementName", "Enabled", "InstanceID", "MutualAuthentication"}, names(ps))
	assert.Equal(t, []string{"false"}, values(ps)["MutualAuthentication"])
	assert.Equal(t, []string{"false"}, values(ps)["AcceptNonSecureConnections"])

	// A refused Put (AcceptNonSecureConnections on a device without the
	// non-TLS port) carries NOT_PERMITTED in the fault.
	d, _ = newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		if r.Action == wsman.ActionPut {
			return wsmantest.FaultReply(wsmantest.InternalError(uint32(StatusNotPermitted)))
		}
		return wsmantest.GetResponse(r, stored)
	})
	s, err = d.TLSSetting(ctx, TLSRemoteInstanceID)
	require.NoError(t, err)
	_, err = d.PutTLSSettings(ctx, s)
	require.ErrorIs(t, err, StatusNotPermitted)
}

func TestTLSCollectionAndContextsRecorded(t *testing.T) {
	tests := []struct {
		src    vectorSource
		certID string
	}{
		{ownSource, "Intel(r) AMT Certificate: Handle: 4"},
		{recordedSource, "Intel(r) AMT Certificate: Handle: 3"},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			ctx := context.Background()
			rs := tc.src.load(t, "amt/tls/protocolendpointcollection/pull", "amt/tls/credentialcontext/pull", "amt/tls/protocolendpointcollection/get")
			collItems := rs.items(t, "amt/tls/protocolendpointcollection/pull")
			ccItems := rs.items(t, "amt/tls/credentialcontext/pull")
			d, f := newFake(t, nil)
			f.handle(func(r *wsmantest.Request) wsmantest.Reply {
				var rep wsmantest.Reply
				switch r.ResourceURI {
				case URITLSProtocolEndpointCollection:
					rep, _ = f.enums.Serve(r, collItems)
				case URITLSCredentialContext:
					rep, _ = f.enums.Serve(r, ccItems)
				}
				return rep
			})
			coll, err := d.TLSProtocolEndpointCollection(ctx)
			require.NoError(t, err)
			assert.Equal(t, TLSCollectionName, coll.ElementName)
			assert.True(t, IsTLSCollectionName(coll.ElementName))
			assert.True(t, IsTLSCollectionName(TLSCollectionNameUnspaced))
			assert.False(t, IsTLSCollectionName("TLSProtocolEndpoint  Instances Collection"))

			ccs, err := d.TLSCredentialContexts(ctx)
			require.NoError(t, err)
			require.Len(t, ccs, 1)
			cc := ccs[0]
			assert.Equal(t, tc.certID, cc.CertificateInstanceID())
			assert.Equal(t, URIPublicKeyCertificate, cc.ElementInContext.ResourceURI)
			assert.Equal(t, URITLSProtocolEndpointCollection, cc.ElementProvidingContext.ResourceURI)
			assert.Equal(t, wsman.SelectorSet{wsman.Sel("ElementName", TLSCollectionName)}, cc.ElementProvidingContext.Selectors)
			assert.Equal(t, wsman.AddressAnonymous, cc.ElementProvidingContext.Address)

			// The Get of the collection decodes too.
			el := rs.content(t, "amt/tls/protocolendpointcollection/get")
			require.NoError(t, checkInstance(el, URITLSProtocolEndpointCollection))
		})
	}
}

// tlsContextServer serves a TLS credential context store: the collection
// (named collName), zero or one context, Create (AlreadyExists when one
// exists), Put and Delete, recording the bodies.
type tlsContextServer struct {
	f        *fakeAMT
	rs       responses // holds amt/tls/credentialcontext/create
	collName string
	existing *etree.Element
	created  *etree.Element
	putBody  *etree.Element
}

func (s *tlsContextServer) serve(t *testing.T) func(r *wsmantest.Request) wsmantest.Reply {
	return func(r *wsmantest.Request) wsmantest.Reply {
		switch {
		case r.ResourceURI == URITLSProtocolEndpointCollection:
			rep, _ := s.f.enums.Serve(r, []*etree.Element{instance(URITLSProtocolEndpointCollection, wsman.Prop("ElementName", s.collName))})
			return rep
		case r.Action == wsman.ActionCreate:
			if s.existing != nil {
				return wsmantest.FaultReply(wsmantest.AlreadyExists())
			}
			s.created = wsman.Detach(r.Input)
			return s.rs.reply(t, r, "amt/tls/credentialcontext/create")
		case r.Action == wsman.ActionPut:
			s.putBody = wsman.Detach(r.Input)
			return wsmantest.PutResponse(r, r.Input)
		case r.Action == wsman.ActionDelete:
			return wsmantest.DeleteResponse(r)
		}
		var items []*etree.Element
		if s.existing != nil {
			items = append(items, s.existing)
		}
		rep, _ := s.f.enums.Serve(r, items)
		return rep
	}
}

func TestCreateTLSCredentialContext(t *testing.T) {
	// The context comes from the ResourceCreated, whose two EPR-valued
	// selectors name the instance.
	tests := []struct {
		src     vectorSource
		created string
	}{
		{ownSource, "Intel(r) AMT Certificate: Handle: 5"},
		{recordedSource, "testCertificate"},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "amt/tls/credentialcontext/create", "amt/tls/credentialcontext/pull")
			testCreateTLSCredentialContext(t, rs, tc.created)
		})
	}
}

func testCreateTLSCredentialContext(t *testing.T, rs responses, created string) {
	ctx := context.Background()
	for _, name := range []string{TLSCollectionName, TLSCollectionNameUnspaced} {
		t.Run(name, func(t *testing.T) {
			d, f := newFake(t, nil)
			s := &tlsContextServer{f: f, rs: rs, collName: name}
			f.handle(s.serve(t))
			cc, err := d.CreateTLSCredentialContext(ctx, "Intel(r) AMT Certificate: Handle: 5")
			require.NoError(t, err)
			rs := f.requests()
			create := rs[len(rs)-1]
			assert.Equal(t, wsman.ActionCreate, create.Action)
			assert.Equal(t, URITLSCredentialContext, create.ResourceURI)
			assert.Empty(t, create.Selectors)
			require.Equal(t, "AMT_TLSCredentialContext", s.created.Tag)
			assert.Equal(t, URITLSCredentialContext, s.created.NamespaceURI())
			ps := params(t, s.created)
			assert.Equal(t, []string{"ElementInContext", "ElementProvidingContext"}, names(ps))
			require.NotNil(t, ps[0].EPR)
			require.NotNil(t, ps[1].EPR)
			assert.Equal(t, URIPublicKeyCertificate, ps[0].EPR.ResourceURI)
			assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 5")}, ps[0].EPR.Selectors)
			assert.Equal(t, URITLSProtocolEndpointCollection, ps[1].EPR.ResourceURI)
			assert.Equal(t, wsman.SelectorSet{wsman.Sel("ElementName", name)}, ps[1].EPR.Selectors, "the device's own spelling is echoed")

			assert.Equal(t, created, cc.CertificateInstanceID())
			assert.Equal(t, wsman.SelectorSet{wsman.Sel("ElementName", TLSCollectionName)}, cc.ElementProvidingContext.Selectors)
		})
	}

	d, f := newFake(t, nil)
	s := &tlsContextServer{f: f, rs: rs, collName: TLSCollectionName, existing: rs.items(t, "amt/tls/credentialcontext/pull")[0]}
	f.handle(s.serve(t))
	_, err := d.CreateTLSCredentialContext(ctx, "Intel(r) AMT Certificate: Handle: 5")
	require.ErrorIs(t, err, wsman.ErrAlreadyExists)
	var op *OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "Create", op.Op)
	_, err = d.CreateTLSCredentialContext(ctx, "")
	require.ErrorIs(t, err, ErrInvalidArgument)

	// No collection on this device.
	d, f = newFake(t, nil)
	f.handle(func(r *wsmantest.Request) wsmantest.Reply { rep, _ := f.enums.Serve(r, nil); return rep })
	_, err = d.CreateTLSCredentialContext(ctx, "Intel(r) AMT Certificate: Handle: 5")
	require.ErrorIs(t, err, ErrNotFound)
}

// TestPutTLSCredentialContext: the Put body is the device's instance with only
// the certificate InstanceID changed; ElementProvidingContext is echoed
// verbatim, even in a form the binding would never build itself.
func TestPutTLSCredentialContext(t *testing.T) {
	ctx := context.Background()
	odd := wsman.EPR{
		Address:     "http://device.example/odd-address",
		ResourceURI: URITLSProtocolEndpointCollection,
		Selectors:   wsman.SelectorSet{wsman.Sel("ElementName", TLSCollectionNameUnspaced), wsman.Sel("Extra", "kept")},
	}
	existing := instance(URITLSCredentialContext,
		wsman.PropEPR("ElementInContext", instanceEPR(URIPublicKeyCertificate, "Intel(r) AMT Certificate: Handle: 3")),
		wsman.PropEPR("ElementProvidingContext", odd))
	d, f := newFake(t, nil)
	s := &tlsContextServer{f: f, collName: TLSCollectionName, existing: existing}
	f.handle(s.serve(t))
	ccs, err := d.TLSCredentialContexts(ctx)
	require.NoError(t, err)
	require.Len(t, ccs, 1)
	out, err := d.PutTLSCredentialContext(ctx, &ccs[0], "Intel(r) AMT Certificate: Handle: 4")
	require.NoError(t, err)
	assert.Equal(t, "Intel(r) AMT Certificate: Handle: 4", out.CertificateInstanceID())
	put := f.requests()[len(f.requests())-1]
	assert.Equal(t, wsman.ActionPut, put.Action)
	assert.Empty(t, put.Selectors, "AMT finds the context from the body")
	ps := params(t, s.putBody)
	assert.Equal(t, []string{"ElementInContext", "ElementProvidingContext"}, names(ps))
	assert.Equal(t, wsman.SelectorSet{wsman.Sel("InstanceID", "Intel(r) AMT Certificate: Handle: 4")}, ps[0].EPR.Selectors)
	assert.Equal(t, odd, *ps[1].EPR, "ElementProvidingContext echoed verbatim")

	// A PutResponse (the own vector's handle 6) decodes.
	out, err = parseCredentialContext(ownResponses(t, "amt/tls/credentialcontext/put").content(t, "amt/tls/credentialcontext/put"), URITLSCredentialContext)
	require.NoError(t, err)
	assert.Equal(t, "Intel(r) AMT Certificate: Handle: 6", out.CertificateInstanceID())

	_, err = d.PutTLSCredentialContext(ctx, &CredentialContext{}, "x")
	require.ErrorIs(t, err, ErrNotReadFromDevice)
	_, err = d.PutTLSCredentialContext(ctx, &ccs[0], "")
	require.ErrorIs(t, err, ErrInvalidArgument)

	// Delete addresses the context by its two EPR-valued keys.
	require.NoError(t, d.DeleteTLSCredentialContext(ctx, &ccs[0]))
	del := f.requests()[len(f.requests())-1]
	assert.Equal(t, wsman.ActionDelete, del.Action)
	assert.Equal(t, URITLSCredentialContext, del.ResourceURI)
	require.Len(t, del.Selectors, 2)
	eic, ok := del.Selectors.GetEPR("ElementInContext")
	require.True(t, ok)
	assert.Equal(t, ccs[0].ElementInContext, eic)
	epc, ok := del.Selectors.GetEPR("ElementProvidingContext")
	require.True(t, ok)
	assert.Equal(t, odd, epc)
	require.ErrorIs(t, d.DeleteTLSCredentialContext(ctx, nil), ErrInvalidArgument)

	// AMT 22 refuses an unacceptable binding with HTTP 500 / AMT-STATUS 1.
	f.handle(func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.FaultReply(wsmantest.InternalError(1))
	})
	_, err = d.PutTLSCredentialContext(ctx, &ccs[0], "Intel(r) AMT Certificate: Handle: 4")
	require.ErrorIs(t, err, StatusInternalError)
}

func TestBindTLSCertificate(t *testing.T) {
	ctx := context.Background()
	rs := ownResponses(t, "amt/tls/credentialcontext/create", "amt/tls/credentialcontext/pull")
	existing := func(t *testing.T) *etree.Element { return rs.items(t, "amt/tls/credentialcontext/pull")[0] }

	t.Run("create", func(t *testing.T) {
		d, f := newFake(t, nil)
		s := &tlsContextServer{f: f, rs: rs, collName: TLSCollectionName}
		f.handle(s.serve(t))
		_, err := d.BindTLSCertificate(ctx, "Intel(r) AMT Certificate: Handle: 5")
		require.NoError(t, err)
		assert.NotNil(t, s.created)
		assert.Nil(t, s.putBody)
	})
	t.Run("put", func(t *testing.T) {
		d, f := newFake(t, nil)
		s := &tlsContextServer{f: f, rs: rs, collName: TLSCollectionName, existing: existing(t)}
		f.handle(s.serve(t))
		cc, err := d.BindTLSCertificate(ctx, "Intel(r) AMT Certificate: Handle: 5")
		require.NoError(t, err)
		assert.Nil(t, s.created)
		require.NotNil(t, s.putBody)
		assert.Equal(t, "Intel(r) AMT Certificate: Handle: 5", cc.CertificateInstanceID())
	})
	t.Run("already bound", func(t *testing.T) {
		d, f := newFake(t, nil)
		s := &tlsContextServer{f: f, rs: rs, collName: TLSCollectionName, existing: existing(t)}
		f.handle(s.serve(t))
		cc, err := d.BindTLSCertificate(ctx, "Intel(r) AMT Certificate: Handle: 4")
		require.NoError(t, err)
		assert.Nil(t, s.putBody)
		assert.Equal(t, "Intel(r) AMT Certificate: Handle: 4", cc.CertificateInstanceID())
	})
	t.Run("AlreadyExists falls back to Put", func(t *testing.T) {
		// The first enumeration misses the context (as CIM enumerations can);
		// Create reports AlreadyExists; the second enumeration finds it.
		d, f := newFake(t, nil)
		s := &tlsContextServer{f: f, rs: rs, collName: TLSCollectionName, existing: existing(t)}
		inner := s.serve(t)
		hidden := true
		f.handle(func(r *wsmantest.Request) wsmantest.Reply {
			if r.ResourceURI == URITLSCredentialContext && r.Action == wsman.ActionEnumerate && hidden {
				hidden = false
				rep, _ := f.enums.Serve(r, nil)
				return rep
			}
			return inner(r)
		})
		cc, err := d.BindTLSCertificate(ctx, "Intel(r) AMT Certificate: Handle: 6")
		require.NoError(t, err)
		require.NotNil(t, s.putBody)
		assert.Equal(t, "Intel(r) AMT Certificate: Handle: 6", cc.CertificateInstanceID())
	})
}
