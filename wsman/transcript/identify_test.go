package transcript_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/amtsim"
	"github.com/amtkit/amtkit/certs/certstest"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/transcript"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// record runs f with a recording client of srv's /wsman and returns the
// transcript.
func record(t *testing.T, url string, opts transcript.Options, f func(c *wsman.Client), clientOpts ...wsman.Option) *transcript.Transcript {
	t.Helper()
	c, err := wsman.New(url, clientOpts...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	rec := transcript.NewRecorder(opts)
	f(c.WithRecorder(rec))
	tr := rec.Transcript(transcript.Provenance{Source: transcript.SourceSimulator, RecordedBy: "amtkit tests", Tool: "identify_test"})
	b, err := tr.Marshal()
	require.NoError(t, err)
	_, err = transcript.Decode(b)
	require.NoError(t, err, "what the recorder writes, Decode reads")
	return tr
}

func bodies(tr *transcript.Transcript) string {
	var b strings.Builder
	for _, x := range tr.Exchanges {
		b.WriteString(x.Request.Body + "\n" + x.Error + "\n")
		for k, v := range x.Request.Header {
			b.WriteString(k + ": " + strings.Join(v, ",") + "\n")
		}
		if x.Response != nil {
			b.WriteString(x.Response.Body + "\n")
			for k, v := range x.Response.Header {
				b.WriteString(k + ": " + strings.Join(v, ",") + "\n")
			}
		}
	}
	return b.String()
}

// Identifying values of a real (simulated) device's answers become
// placeholders that still parse: amt.Device reads them back as a UUID, a
// realm, host names and a certificate.
func TestIdentifyingValuesBecomePlaceholders(t *testing.T) {
	ctx := t.Context()
	keys := certstest.NewKeyPool()
	d, err := amtsim.New(amtsim.Config{Keys: amtsim.PoolKeys(keys), HostName: "pc-42", DomainName: "sales.contoso.com",
		DHCPDNSSuffix: "sales.contoso.com", TrustedDNSSuffix: "contoso.com", OnDie: true})
	require.NoError(t, err)
	require.NoError(t, d.Start(ctx))
	t.Cleanup(func() { _ = d.Close() })
	user, pw := d.LocalSystemAccount()
	realm, uuid := d.DigestRealm(), d.UUID()

	var orig struct {
		uuid amt.UUID
		gs   *amt.GeneralSettings
		sc   *amt.SetupAndConfiguration
	}
	tr := record(t, d.HTTPEndpoint(), transcript.Options{Identifying: true}, func(c *wsman.Client) {
		dev := amt.NewDevice(c)
		orig.uuid, err = dev.UUID(ctx)
		require.NoError(t, err)
		orig.gs, err = dev.GeneralSettings(ctx)
		require.NoError(t, err)
		orig.sc, err = dev.SetupAndConfiguration(ctx)
		require.NoError(t, err)
		_, err = dev.GeneralSettings(ctx) // the same values again: the same placeholders
		require.NoError(t, err)
	}, wsman.WithDigestAuth(user, pw.Reveal()))
	require.Equal(t, uuid, orig.uuid)
	all := bodies(tr)
	u := uuid.Wire()
	for name, v := range map[string]string{
		"realm": realm, "uuid": uuid.String(), "uuid upper": strings.ToUpper(uuid.String()),
		"uuid wire base64": base64.StdEncoding.EncodeToString(u[:]),
		"host":             "pc-42", "domain": "sales.contoso.com", "contoso": "contoso",
	} {
		assert.False(t, strings.Contains(all, v), "the %s %q is gone", name, v)
	}
	has(t, all, `realm="Digest:00000000000000000000000000000001"`, "the challenge's realm is the placeholder of the DigestRealm element")
	has(t, all, "<g:DigestRealm>Digest:00000000000000000000000000000001</g:DigestRealm>", "realm")
	assert.Equal(t, 2, strings.Count(all, "<g:HostName>"+hostPlaceholder(all)+"</g:HostName>"), "the same host name, the same placeholder")
	has(t, all, "<g:DomainName>name1.name2.com</g:DomainName>", "sales.contoso.com")
	has(t, all, "<g:TrustedDNSSuffix>name2.com</g:TrustedDNSSuffix>", "contoso.com: still the suffix of the domain name")
	has(t, all, "<g:UUID>AAAAAAAAAAAAAAAAAAAAAQ==</g:UUID>", "the wire UUID, base64 as sent")
	assert.True(t, tr.Provenance.Redaction.Identifying)
	assert.Positive(t, tr.Provenance.Redaction.Replaced)

	// Without Identifying, the same session keeps them.
	tr = record(t, d.HTTPEndpoint(), transcript.Options{}, func(c *wsman.Client) {
		_, err := amt.NewDevice(c).GeneralSettings(ctx)
		require.NoError(t, err)
	}, wsman.WithDigestAuth(user, pw.Reveal()))
	has(t, bodies(tr), "pc-42", "kept")
	has(t, bodies(tr), realm, "kept")
}

// has reports a missing string without printing the whole transcript.
func has(t *testing.T, all, want, what string) {
	t.Helper()
	assert.True(t, strings.Contains(all, want), "%s: %q is not in the transcript", what, want)
}

func hostPlaceholder(all string) string {
	i := strings.Index(all, "<g:HostName>")
	if i < 0 {
		return "?"
	}
	rest := all[i+len("<g:HostName>"):]
	return rest[:strings.Index(rest, "<")]
}

// A fake answers with every kind of identifying value, certificates
// included: each becomes a placeholder of its form, the same value the same
// placeholder, and a value learnt late is replaced in earlier exchanges too.
func TestIdentifyingKinds(t *testing.T) {
	ca := certstest.MustRootCA(t, certstest.CAOptions{CommonName: "Contoso Issuing CA"})
	leafKey, err := certstest.NewKeyPool().RSA(2048)
	require.NoError(t, err)
	leaf, err := ca.IssueCert(&x509.Certificate{SerialNumber: big.NewInt(424242), Subject: pkix.Name{CommonName: "pc-42.sales.contoso.com", Organization: []string{"Contoso"}},
		DNSNames: []string{"pc-42.sales.contoso.com"}, IPAddresses: []net.IP{net.ParseIP("10.20.30.40")}, EmailAddresses: []string{"it@contoso.com"},
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &leafKey.PublicKey)
	require.NoError(t, err)
	root := ca.RootCertificate()
	b64 := base64.StdEncoding.EncodeToString
	const ns = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_EthernetPortSettings"
	const cns = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate"
	srv := echoFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		switch r.ResourceURI {
		case ns:
			return wsmantest.GetResponse(r, wsman.NewInstance(ns,
				wsman.Prop("MACAddress", "a4-bb-6d-11-22-33"), wsman.Prop("IPAddress", "10.20.30.40"),
				wsman.Prop("DefaultGateway", "10.20.30.1"), wsman.Prop("PrimaryDNS", "2001:4860:4860::8888"),
				wsman.Prop("SubnetMask", "255.255.255.0"), wsman.Prop("SerialNumber", "PF3ABCDE"),
				wsman.Prop("ElementName", "reached at 10.20.30.40, serial PF3ABCDE, device f7b2c9a1-1111-4222-8333-444455556666")))
		case cns:
			return wsmantest.GetResponse(r, wsman.NewInstance(cns,
				wsman.Prop("Issuer", "C=unknown,O=unknown,CN=Contoso Issuing CA"), wsman.Prop("Subject", "C=unknown,O=Contoso,CN=pc-42.sales.contoso.com"),
				wsman.Prop("X509Certificate", b64(leaf.Raw)), wsman.Prop("ElementName", "root"),
				wsman.Prop("TrustedRootCertficate", "false")))
		default: // learnt last: the UUID, which the first answer's text already named
			return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0, wsman.Prop("UUID", "f7b2c9a1-1111-4222-8333-444455556666"),
				wsman.Prop("X509Certificate", b64(root.Raw))))
		}
	}, nil)
	tr := record(t, srv.URL+"/wsman", transcript.Options{Identifying: true}, func(c *wsman.Client) {
		_, err := c.Get(t.Context(), ns, nil)
		require.NoError(t, err)
		_, err = c.Get(t.Context(), cns, nil)
		require.NoError(t, err)
		_, err = c.Invoke(t.Context(), "http://example.com/Id", "GetUuid", nil, nil)
		require.NoError(t, err)
	})
	all := bodies(tr)
	for _, v := range []string{"a4-bb-6d-11-22-33", "10.20.30.40", "10.20.30.1", "2001:4860:4860::8888", "PF3ABCDE",
		"contoso", "Contoso", "f7b2c9a1-1111-4222-8333-444455556666", b64(leaf.Raw), b64(root.Raw)} {
		assert.False(t, strings.Contains(all, v), "%q is gone", v)
	}
	for _, want := range []string{"<g:MACAddress>02-00-00-00-00-01</g:MACAddress>", "<g:IPAddress>192.0.2.1</g:IPAddress>",
		"<g:DefaultGateway>192.0.2.2</g:DefaultGateway>", "<g:PrimaryDNS>2001:db8::1</g:PrimaryDNS>",
		"<g:SubnetMask>255.255.255.0</g:SubnetMask>", "<g:SerialNumber>serial-1</g:SerialNumber>",
		"reached at 192.0.2.1, serial serial-1", "<g:UUID>00000000-0000-0000-0000-000000000001</g:UUID>",
		"device 00000000-0000-0000-0000-000000000001"} {
		has(t, all, want, "placeholder")
	}

	// The certificates: names, serial and alternative names are
	// placeholders; the issuer of the leaf is the subject of the root; the
	// texts AMT writes agree with them.
	certOf := func(x transcript.Exchange) *x509.Certificate {
		env, err := wsman.ParseEnvelope([]byte(x.Response.Body), 0)
		require.NoError(t, err)
		el := findElement(env.Body, "X509Certificate")
		require.NotNil(t, el)
		der, err := base64.StdEncoding.DecodeString(el.Text())
		require.NoError(t, err)
		c, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		return c
	}
	var leafPH, rootPH *x509.Certificate
	for _, x := range tr.Exchanges {
		if x.Response == nil || !strings.Contains(x.Response.Body, "X509Certificate") {
			continue
		}
		if strings.Contains(x.Request.ResourceURI, "PublicKeyCertificate") {
			leafPH = certOf(x)
		} else {
			rootPH = certOf(x)
		}
	}
	require.NotNil(t, leafPH)
	require.NotNil(t, rootPH)
	assert.Equal(t, rootPH.Subject.String(), leafPH.Issuer.String(), "the chain still links")
	assert.Equal(t, rootPH.Subject.String(), rootPH.Issuer.String(), "the root is still self-issued")
	assert.Regexp(t, `^CN=subject-\d+$`, leafPH.Subject.String())
	assert.Equal(t, []string{"name1.name2.name3.com"}, leafPH.DNSNames)
	assert.Equal(t, "192.0.2.1", leafPH.IPAddresses[0].String(), "the same address as in the settings")
	assert.Len(t, leafPH.EmailAddresses, 1)
	assert.NotContains(t, leafPH.EmailAddresses[0], "contoso")
	assert.NotEqual(t, leaf.SerialNumber, leafPH.SerialNumber)
	assert.Equal(t, leaf.NotAfter, leafPH.NotAfter, "validity kept")
	assert.Equal(t, leaf.PublicKey, leafPH.PublicKey, "public key kept")
	assert.Equal(t, leaf.ExtKeyUsage, leafPH.ExtKeyUsage, "usages kept")
	assert.Error(t, leafPH.CheckSignatureFrom(rootPH), "the signature no longer verifies")
	has(t, all, "<g:Issuer>"+leafPH.Issuer.String()+"</g:Issuer>", "AMT's Issuer text names the same placeholder")
	has(t, all, "<g:Subject>"+leafPH.Subject.String()+"</g:Subject>", "AMT's Subject text")
}

func findElement(el *etree.Element, local string) *etree.Element {
	if el.Tag == local {
		return el
	}
	for _, c := range el.ChildElements() {
		if f := findElement(c, local); f != nil {
			return f
		}
	}
	return nil
}

// The recorder rewrites envelopes in place: everything but the masked and
// replaced text — prefixes, declarations, white space, end tags — is as the
// device wrote it.
func TestRedactionKeepsWrittenForm(t *testing.T) {
	const raw = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings">` +
		`<a:Header><b:Action a:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</b:Action><b:RelatesTo>REL</b:RelatesTo></a:Header>` +
		"<a:Body>\n  <g:AMT_GeneralSettings><g:HostName>pc-42</g:HostName><g:Empty></g:Empty><g:Closed/><g:Password>hunter2-secret</g:Password>" +
		"<g:Nested><g:Password><g:Deep>x</g:Deep></g:Password></g:Nested></g:AMT_GeneralSettings>\n</a:Body></a:Envelope>"
	srv := echoFake(t, nil, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req, err := wsmantest.ReadRequest(r, 0)
			require.NoError(t, err)
			w.Header().Set("Content-Type", "application/soap+xml; charset=UTF-8")
			_, _ = w.Write([]byte(strings.Replace(raw, "REL", req.MessageID, 1)))
		})
	})
	tr := record(t, srv.URL+"/wsman", transcript.Options{Identifying: true}, func(c *wsman.Client) {
		_, err := c.Get(t.Context(), "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings", nil)
		require.NoError(t, err)
	})
	require.Len(t, tr.Exchanges, 1)
	got := tr.Exchanges[0].Response.Body
	want := strings.NewReplacer("pc-42", "name1", "hunter2-secret", wsman.Redacted, "<g:Deep>x</g:Deep>", wsman.Redacted).
		Replace(strings.Replace(raw, "REL", tr.Exchanges[0].Request.Body[strings.Index(tr.Exchanges[0].Request.Body, "uuid:"):][:41], 1))
	assert.Equal(t, want, got)
}

// RequestKey leaves out what differs between two sendings of the same
// request and masks secret and volatile values.
func TestRequestKey(t *testing.T) {
	const uri = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuthorizationService"
	var bodies []string
	srv := echoFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		bodies = append(bodies, string(r.Raw))
		return wsmantest.MethodResponse(r, wsmantest.ReturnValue(r, 0))
	}, nil)
	c, err := wsman.New(srv.URL + "/wsman")
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	call := func(sel wsman.SelectorSet, props ...wsman.Property) {
		_, err := c.Invoke(t.Context(), uri, "SetAdminAclEntryEx", sel, wsman.NewInput(uri, "SetAdminAclEntryEx", props...))
		require.NoError(t, err)
	}
	call(wsman.SelectorSet{wsman.Sel("B", "2"), wsman.Sel("A", "1")}, wsman.Prop("Username", "admin"), wsman.Prop("DigestPassword", "AAAA"), wsman.Prop("McNonce", "n1"))
	call(wsman.SelectorSet{wsman.Sel("A", "1"), wsman.Sel("B", "2")}, wsman.Prop("Username", "admin"), wsman.Prop("DigestPassword", "BBBB"), wsman.Prop("McNonce", "n2"))
	call(nil, wsman.Prop("Username", "other"), wsman.Prop("DigestPassword", "BBBB"))
	p := transcript.AMTPolicy()
	k0, err := transcript.RequestKey([]byte(bodies[0]), p)
	require.NoError(t, err)
	k1, err := transcript.RequestKey([]byte(bodies[1]), p)
	require.NoError(t, err)
	k2, err := transcript.RequestKey([]byte(bodies[2]), p)
	require.NoError(t, err)
	assert.Equal(t, k0, k1, "MessageIDs, selector order, secrets and nonces do not count")
	assert.NotEqual(t, k0, k2)
	assert.Equal(t, uri+"/SetAdminAclEntryEx", k0.Action)
	assert.Equal(t, "{A=1, B=2}", k0.Selectors)
	assert.Contains(t, k0.Body, "}DigestPassword="+wsman.Redacted)
	assert.Contains(t, k0.Body, "}McNonce=[VOLATILE]")
	assert.Equal(t, uri+"/SetAdminAclEntryEx "+uri+" {A=1, B=2}", k0.String())
	_, err = transcript.RequestKey([]byte("not xml"), p)
	require.Error(t, err)
}

// A Pull's MaxCharacters is a page-size hint: a transcript recorded by a
// client that sent none still answers a client that sends one.
func TestRequestKeyPullMaxCharacters(t *testing.T) {
	const uri = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate"
	var bodies []string
	srv := echoFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		bodies = append(bodies, string(r.Raw))
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	}, nil)
	c, err := wsman.New(srv.URL + "/wsman")
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	_, _ = c.Pull(t.Context(), uri, "ctx-1")
	_, _ = c.Pull(t.Context(), uri, "ctx-1", wsman.MaxCharacters(99999))
	_, _ = c.Pull(t.Context(), uri, "ctx-1", wsman.MaxElements(5))
	p := transcript.AMTPolicy()
	var keys []transcript.Key
	for _, b := range bodies {
		k, err := transcript.RequestKey([]byte(b), p)
		require.NoError(t, err)
		keys = append(keys, k)
	}
	require.Len(t, keys, 3)
	assert.Equal(t, keys[0], keys[1])
	assert.NotEqual(t, keys[0], keys[2], "MaxElements still counts")
	assert.Contains(t, bodies[1], "MaxCharacters")
}
