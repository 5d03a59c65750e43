package amt

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"testing"

	"github.com/amtkit/amtkit/internal/testvectors"
	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// remoteResponses returns amtkit's own CIRA, redirection and consent response
// vectors (internal/testvectors/data/amt_remoteaccess.json, written from the
// Intel AMT SDK class reference); every checkout has them.
func remoteResponses(t testing.TB, names ...string) responses {
	t.Helper()
	raw := testvectors.ResponseEnvelopes(t, "amt_remoteaccess")
	rs := make(responses, len(names))
	for _, n := range names {
		b, ok := raw[n]
		require.True(t, ok, "no own response vector %q", n)
		env, err := wsman.ParseEnvelope(b, 0)
		require.NoError(t, err, n)
		rs[n] = env
	}
	return rs
}

var remoteSource = vectorSource{"own", remoteResponses}

func TestMPServersDecode(t *testing.T) {
	tests := []struct {
		src  vectorSource
		want []MPServer
	}{
		{remoteSource, []MPServer{
			{Name: "Intel(r) AMT:Management Presence Server 0", ElementName: "Intel(r) AMT:Management Presence Server", AccessInfo: "mps.contoso.com", InfoFormat: MPSFQDN, Port: 4433, CN: "mps.contoso.com"},
			{Name: "Intel(r) AMT:Management Presence Server 1", ElementName: "Intel(r) AMT:Management Presence Server", AccessInfo: "192.0.2.10", InfoFormat: MPSIPv4, Port: 8443, CN: "mps-backup.contoso.com"},
		}},
		{recordedSource, []MPServer{
			{Name: "Intel(r) AMT:Management Presence Server 0", ElementName: "Intel(r) AMT:Management Presence Server", AccessInfo: "192.168.10.196", InfoFormat: MPSIPv4, Port: 4433, CN: "192.168.10.196"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "amt/managementpresence/pull")
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return wsmantest.Reply{} })
			f.enums.MaxOpen = 4
			items := rs.items(t, "amt/managementpresence/pull")
			f.handle(func(r *wsmantest.Request) wsmantest.Reply {
				rep, _ := f.enums.Serve(r, items)
				return rep
			})
			got, err := d.MPServers(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, URIManagementPresenceRemoteSAP, f.requests()[0].ResourceURI)
		})
	}
}

func TestAddMPServer(t *testing.T) {
	for _, tc := range []struct {
		src  vectorSource
		file string
		name string
	}{
		{remoteSource, "amt/remoteaccess/service/addmpserver", "Intel(r) AMT:Management Presence Server 1"},
		{recordedSource, "amt/remoteaccess/service/addmpsserver", "Intel(r) AMT:Management Presence Server 0"},
	} {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, tc.file)
			var logged bytes.Buffer
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return rs.reply(t, r, tc.file) },
				wsman.WithLogger(slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			name, err := d.AddMPServer(context.Background(), AddMPServerRequest{
				AccessInfo: "192.0.2.10", Port: 4433, AuthMethod: MPSPasswordAuth,
				Username: "mpsuser", Password: NewSecret("Mps-P4ss!word"), CN: "mps.contoso.com",
			})
			require.NoError(t, err)
			assert.Equal(t, tc.name, name)
			ps := requireMethodInput(t, f.only(t), URIRemoteAccessService, "AddMpServer")
			assert.Equal(t, []string{"AccessInfo", "InfoFormat", "Port", "AuthMethod", "Username", "Password", "CN"}, names(ps), "the MOF order")
			assert.Equal(t, map[string][]string{"AccessInfo": {"192.0.2.10"}, "InfoFormat": {"3"}, "Port": {"4433"}, "AuthMethod": {"2"},
				"Username": {"mpsuser"}, "Password": {"Mps-P4ss!word"}, "CN": {"mps.contoso.com"}}, values(ps))
			assert.NotContains(t, logged.String(), "Mps-P4ss!word", "the MPS password is masked in logged envelopes")
		})
	}
}

func TestAddMPServerMutualAndRefusals(t *testing.T) {
	rs := remoteResponses(t, "amt/remoteaccess/service/addmpserver", "amt/remoteaccess/service/addmpserver-duplicate")
	ctx := context.Background()
	file := "amt/remoteaccess/service/addmpserver"
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return rs.reply(t, r, file) })
	_, err := d.AddMPServer(ctx, AddMPServerRequest{AccessInfo: "mps.contoso.com", Port: 4433, AuthMethod: MPSMutualAuth, Certificate: "Intel(r) AMT Certificate: Handle: 3"})
	require.NoError(t, err)
	ps := requireMethodInput(t, f.only(t), URIRemoteAccessService, "AddMpServer")
	assert.Equal(t, []string{"AccessInfo", "InfoFormat", "Port", "AuthMethod", "Certificate"}, names(ps))
	assert.Equal(t, "201", values(ps)["InfoFormat"][0], "an FQDN")
	require.NotNil(t, ps[4].EPR)
	assert.Equal(t, URIPublicKeyCertificate, ps[4].EPR.ResourceURI)

	file = "amt/remoteaccess/service/addmpserver-duplicate"
	_, err = d.AddMPServer(ctx, AddMPServerRequest{AccessInfo: "mps.contoso.com", Port: 4433, AuthMethod: MPSPasswordAuth, Username: "u", Password: NewSecret("Mps-P4ss!word")})
	require.ErrorIs(t, err, StatusDuplicate)

	bad := []struct {
		name string
		r    AddMPServerRequest
	}{
		{"no address", AddMPServerRequest{Port: 1, AuthMethod: MPSPasswordAuth, Username: "u", Password: NewSecret("Mps-P4ss!word")}},
		{"no port", AddMPServerRequest{AccessInfo: "a.b", AuthMethod: MPSPasswordAuth, Username: "u", Password: NewSecret("Mps-P4ss!word")}},
		{"format mismatch", AddMPServerRequest{AccessInfo: "mps.contoso.com", InfoFormat: MPSIPv4, Port: 1, AuthMethod: MPSPasswordAuth, Username: "u", Password: NewSecret("Mps-P4ss!word")}},
		{"user too long", AddMPServerRequest{AccessInfo: "a.b", Port: 1, AuthMethod: MPSPasswordAuth, Username: "seventeen-chars-x", Password: NewSecret("Mps-P4ss!word")}},
		{"user with &", AddMPServerRequest{AccessInfo: "a.b", Port: 1, AuthMethod: MPSPasswordAuth, Username: "a&b", Password: NewSecret("Mps-P4ss!word")}},
		{"password too long", AddMPServerRequest{AccessInfo: "a.b", Port: 1, AuthMethod: MPSPasswordAuth, Username: "u", Password: NewSecret("Mps-P4ss!word-1234")}},
		{"weak password", AddMPServerRequest{AccessInfo: "a.b", Port: 1, AuthMethod: MPSPasswordAuth, Username: "u", Password: NewSecret("password")}},
		{"mutual without certificate", AddMPServerRequest{AccessInfo: "a.b", Port: 1, AuthMethod: MPSMutualAuth}},
		{"no method", AddMPServerRequest{AccessInfo: "a.b", Port: 1}},
	}
	n := len(f.requests())
	for _, tc := range bad {
		_, err := d.AddMPServer(ctx, tc.r)
		assert.ErrorIs(t, err, ErrInvalidArgument, tc.name)
	}
	assert.Len(t, f.requests(), n, "nothing is sent for a refused request")
}

func TestRemoteAccessPolicyRules(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		src  vectorSource
		want []RemoteAccessPolicyRule
		per  Periodic
	}{
		{remoteSource, []RemoteAccessPolicyRule{
			{PolicyRuleName: "Periodic", ElementName: "Intel(r) AMT:Remote Access Policy", Trigger: TriggerPeriodic, ExtendedData: PeriodicInterval(60)},
			{PolicyRuleName: "User Initiated", ElementName: "Intel(r) AMT:Remote Access Policy", Trigger: TriggerUserInitiated, TunnelLifeTime: 300},
		}, Periodic{Interval: 60}},
		{recordedSource, []RemoteAccessPolicyRule{
			{PolicyRuleName: "Periodic", ElementName: "Inte(r) AMT:Remote Access Policy", Trigger: TriggerPeriodic, ExtendedData: PeriodicInterval(25)},
		}, Periodic{Interval: 25}},
	} {
		t.Run(tc.src.name, func(t *testing.T) {
			items := tc.src.load(t, "amt/remoteaccess/policyrule/pull").items(t, "amt/remoteaccess/policyrule/pull")
			d, f := newFake(t, nil)
			f.enums.MaxOpen = 4
			f.handle(func(r *wsmantest.Request) wsmantest.Reply { rep, _ := f.enums.Serve(r, items); return rep })
			got, err := d.RemoteAccessPolicyRules(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			p, err := ParsePeriodic(got[0].ExtendedData)
			require.NoError(t, err)
			assert.Equal(t, tc.per, p)
		})
	}
}

func TestAddRemoteAccessPolicyRule(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		src  vectorSource
		file string
		want string
	}{
		{remoteSource, "amt/remoteaccess/service/addremoteaccesspolicyrule", "User Initiated"},
		{recordedSource, "amt/remoteaccess/service/addremoteaccessservice", "Periodic"},
	} {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, tc.file)
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return rs.reply(t, r, tc.file) })
			name, err := d.AddRemoteAccessPolicyRule(ctx, RemoteAccessPolicy{Trigger: TriggerPeriodic, ExtendedData: PeriodicInterval(25)},
				"Intel(r) AMT:Management Presence Server 0")
			require.NoError(t, err)
			assert.Equal(t, tc.want, name)
			ps := requireMethodInput(t, f.only(t), URIRemoteAccessService, "AddRemoteAccessPolicyRule")
			assert.Equal(t, []string{"Trigger", "TunnelLifeTime", "ExtendedData", "MpServer"}, names(ps))
			assert.Equal(t, "AAAAAAAAABk=", ps[2].Value, "RPS's and the SDK's 25 seconds")
			require.NotNil(t, ps[3].EPR)
			assert.Equal(t, URIManagementPresenceRemoteSAP, ps[3].EPR.ResourceURI)
			n, _ := ps[3].EPR.Selectors.Get("Name")
			assert.Equal(t, "Intel(r) AMT:Management Presence Server 0", n)
		})
	}
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
	for name, call := range map[string]func() error{
		"no MPS": func() error {
			_, err := d.AddRemoteAccessPolicyRule(ctx, RemoteAccessPolicy{Trigger: TriggerAlert})
			return err
		},
		"three MPSs": func() error {
			_, err := d.AddRemoteAccessPolicyRule(ctx, RemoteAccessPolicy{}, "a", "b", "c")
			return err
		},
		"bad periodic": func() error {
			_, err := d.AddRemoteAccessPolicyRule(ctx, RemoteAccessPolicy{Trigger: TriggerPeriodic}, "a")
			return err
		},
		"long extended": func() error {
			_, err := d.AddRemoteAccessPolicyRule(ctx, RemoteAccessPolicy{ExtendedData: make([]byte, 33)}, "a")
			return err
		},
		"empty MPS names": func() error { _, err := d.AddRemoteAccessPolicyRule(ctx, RemoteAccessPolicy{}, ""); return err },
		"home provisioning trigger": func() error {
			_, err := d.AddRemoteAccessPolicyRule(ctx, RemoteAccessPolicy{Trigger: TriggerHomeProvisioning}, "a")
			return err
		},
	} {
		assert.ErrorIs(t, call(), ErrInvalidArgument, name)
	}
	assert.Empty(t, f.requests())
	_, err := d.AddRemoteAccessPolicyRule(ctx, RemoteAccessPolicy{Trigger: TriggerAlert}, "a")
	assert.ErrorIs(t, err, ErrBadResponse, "an output without PolicyRule")
}

func TestParsePeriodic(t *testing.T) {
	tests := []struct {
		in   []byte
		want Periodic
		ok   bool
	}{
		{PeriodicInterval(25), Periodic{Interval: 25}, true},
		{PeriodicDaily(2, 30), Periodic{Daily: true, Hour: 2, Minute: 30}, true},
		{PeriodicDaily(24, 0), Periodic{}, false},
		{PeriodicDaily(0, 60), Periodic{}, false},
		{PeriodicInterval(0), Periodic{}, false},
		{append(PeriodicInterval(1), 0), Periodic{}, false},
		{[]byte{0, 0, 0, 2, 0, 0, 0, 1}, Periodic{}, false},
		{nil, Periodic{}, false},
	}
	for _, tc := range tests {
		got, err := ParsePeriodic(tc.in)
		if !tc.ok {
			assert.ErrorIs(t, err, ErrInvalidArgument, "%x", tc.in)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
	assert.Equal(t, "every 25s", Periodic{Interval: 25}.String())
	assert.Equal(t, "daily at 02:30", Periodic{Daily: true, Hour: 2, Minute: 30}.String())
	// Every strict prefix of a valid value fails.
	for _, v := range [][]byte{PeriodicInterval(25), PeriodicDaily(2, 30)} {
		for i := 0; i < len(v); i++ {
			_, err := ParsePeriodic(v[:i])
			assert.Error(t, err, "prefix %d of %x", i, v)
		}
	}
}

func FuzzParsePeriodic(f *testing.F) {
	f.Add(PeriodicInterval(25))
	f.Add(PeriodicDaily(23, 59))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePeriodic(b)
		if err != nil {
			return
		}
		var again []byte
		if p.Daily {
			again = PeriodicDaily(p.Hour, p.Minute)
		} else {
			again = PeriodicInterval(p.Interval)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x", b, p, again)
		}
	})
}

func TestPolicyAppliesToMPS(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		src  vectorSource
		n    int
		want MPSType
	}{{remoteSource, 2, MPSExternal}, {recordedSource, 1, MPSExternal}} {
		t.Run(tc.src.name, func(t *testing.T) {
			items := tc.src.load(t, "amt/remoteaccess/policyappliestomps/pull").items(t, "amt/remoteaccess/policyappliestomps/pull")
			d, f := newFake(t, nil)
			f.enums.MaxOpen = 4
			var put *wsmantest.Request
			f.handle(func(r *wsmantest.Request) wsmantest.Reply {
				if r.Action == wsman.ActionPut {
					put = r
					return wsmantest.Reply{Action: wsman.ActionPut + "Response", ResourceURI: r.ResourceURI}
				}
				rep, _ := f.enums.Serve(r, items)
				return rep
			})
			got, err := d.RemoteAccessPolicyAppliesToMPS(ctx)
			require.NoError(t, err)
			require.Len(t, got, tc.n)
			p := got[0]
			assert.Equal(t, "Intel(r) AMT:Management Presence Server 0", p.MPServerName())
			assert.Equal(t, "Periodic", p.PolicyRuleName())
			assert.Equal(t, tc.want, p.MpsType)

			// RPS: MpsType both, addressed by the two EPR-valued keys.
			p.MpsType = MPSBoth
			require.NoError(t, d.PutRemoteAccessPolicyAppliesToMPS(ctx, p))
			require.NotNil(t, put)
			me, ok := put.Selectors.GetEPR("ManagedElement")
			require.True(t, ok)
			assert.Equal(t, URIManagementPresenceRemoteSAP, me.ResourceURI)
			ps, ok := put.Selectors.GetEPR("PolicySet")
			require.True(t, ok)
			assert.Equal(t, URIRemoteAccessPolicyRule, ps.ResourceURI)
			v := values(params(t, put.Input))
			assert.Equal(t, []string{"2"}, v["MpsType"])
			assert.Equal(t, []string{"0"}, v["OrderOfAccess"], "the rest is echoed as read")
		})
	}
	d, _ := newFake(t, nil)
	require.ErrorIs(t, d.PutRemoteAccessPolicyAppliesToMPS(ctx, &PolicyAppliesToMPS{}), ErrNotReadFromDevice)
}

func TestEnvironmentDetection(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		src  vectorSource
		want []string
	}{
		{remoteSource, []string{"contoso.com", "corp.fabrikam.com"}},
		{recordedSource, []string{"b332bb28-ef3a-43b0-b998-342285ac1e26.com", "test.com"}},
	} {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "amt/environmentdetection/get")
			var put *wsmantest.Request
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				if r.Action == wsman.ActionPut {
					put = r
					return wsmantest.PutResponse(r, r.Input)
				}
				return rs.reply(t, r, "amt/environmentdetection/get")
			})
			s, err := d.EnvironmentDetection(ctx)
			require.NoError(t, err)
			assert.Equal(t, EnvironmentDetectionInstanceID, s.InstanceID)
			assert.Equal(t, tc.want, s.DetectionStrings)
			assert.True(t, s.Inside("sub."+tc.want[1]))
			assert.True(t, s.Inside(tc.want[1]+"."))
			assert.False(t, s.Inside("not"+tc.want[1]), "a suffix match is on a label boundary")
			assert.False(t, s.Inside(""))

			s.DetectionStrings = []string{"home.example"}
			out, err := d.PutEnvironmentDetection(ctx, s)
			require.NoError(t, err)
			assert.Equal(t, []string{"home.example"}, out.DetectionStrings)
			id, _ := put.Selectors.Get("InstanceID")
			assert.Equal(t, EnvironmentDetectionInstanceID, id)
			assert.Equal(t, []string{"home.example"}, values(params(t, put.Input))["DetectionStrings"])
			assert.Equal(t, []string{"0"}, values(params(t, put.Input))["DetectionAlgorithm"])

			s.DetectionStrings = nil
			_, err = d.PutEnvironmentDetection(ctx, s)
			require.NoError(t, err)
			assert.NotContains(t, names(params(t, put.Input)), "DetectionStrings", "cleared")

			s.DetectionStrings = []string{string(make([]byte, 191))}
			_, err = d.PutEnvironmentDetection(ctx, s)
			assert.ErrorIs(t, err, ErrInvalidArgument)
		})
	}
}

func TestUserInitiatedConnection(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		src  vectorSource
		want UserInitiatedState
	}{{remoteSource, UserInitiatedOS}, {recordedSource, UserInitiatedBIOSAndOS}} {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "amt/userinitiatedconnection/get")
			d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return rs.reply(t, r, "amt/userinitiatedconnection/get") })
			s, err := d.UserInitiatedConnection(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.want, s)
			f.handle(func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
			require.NoError(t, d.SetUserInitiatedConnection(ctx, UserInitiatedBIOSAndOS))
			ps := requireMethodInput(t, f.requests()[1], URIUserInitiatedConnectionService, "RequestStateChange")
			assert.Equal(t, map[string][]string{"RequestedState": {"32771"}}, values(ps))
		})
	}
	rs := recordedResponses(t, "amt/userinitiatedconnection/request")
	d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return rs.reply(t, r, "amt/userinitiatedconnection/request")
	})
	require.NoError(t, d.SetUserInitiatedConnection(ctx, UserInitiatedDisabled), "the recorded RequestStateChange answer")
	assert.ErrorIs(t, d.SetUserInitiatedConnection(ctx, 5), ErrInvalidArgument)
	assert.Equal(t, "BIOS and OS", UserInitiatedBIOSAndOS.String())
}

func TestRemoteAccessService(t *testing.T) {
	for _, tc := range []struct {
		src       vectorSource
		connected bool
		timeout   uint32
	}{{remoteSource, true, 60}, {recordedSource, false, 4294967295}} {
		t.Run(tc.src.name, func(t *testing.T) {
			rs := tc.src.load(t, "amt/remoteaccess/service/get")
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return rs.reply(t, r, "amt/remoteaccess/service/get") })
			s, err := d.RemoteAccess(context.Background())
			require.NoError(t, err)
			require.NotNil(t, s.IsRemoteTunnelConnected)
			assert.Equal(t, tc.connected, *s.IsRemoteTunnelConnected)
			assert.Equal(t, tc.timeout, *s.RemoteTunnelKeepAliveTimeout)
		})
	}
}

func TestDeleteCIRAInstances(t *testing.T) {
	rs := recordedResponses(t, "amt/managementpresence/delete", "amt/remoteaccess/policyrule/delete")
	ctx := context.Background()
	d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		if r.ResourceURI == URIRemoteAccessPolicyRule {
			return rs.reply(t, r, "amt/remoteaccess/policyrule/delete")
		}
		return rs.reply(t, r, "amt/managementpresence/delete")
	})
	require.NoError(t, d.DeleteMPServer(ctx, "Intel(r) AMT:Management Presence Server 0"))
	require.NoError(t, d.DeleteRemoteAccessPolicyRule(ctx, "Periodic"))
	reqs := f.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, wsman.SelectorSet{wsman.Sel("Name", "Intel(r) AMT:Management Presence Server 0")}, reqs[0].Selectors)
	assert.Equal(t, wsman.SelectorSet{wsman.Sel("PolicyRuleName", "Periodic")}, reqs[1].Selectors)
	assert.ErrorIs(t, d.DeleteMPServer(ctx, ""), ErrInvalidArgument)
	assert.ErrorIs(t, d.DeleteRemoteAccessPolicyRule(ctx, ""), ErrInvalidArgument)
}

func TestInfoFormatOf(t *testing.T) {
	assert.Equal(t, MPSIPv4, InfoFormatOf("10.0.0.1"))
	assert.Equal(t, MPSIPv6, InfoFormatOf("2001:db8::1"))
	assert.Equal(t, MPSFQDN, InfoFormatOf("mps.contoso.com"))
	assert.Equal(t, "FQDN", MPSFQDN.String())
	assert.Equal(t, "password", MPSPasswordAuth.String())
	assert.Equal(t, "both", MPSBoth.String())
	assert.Equal(t, "Periodic", TriggerPeriodic.String())
	assert.Equal(t, base64.StdEncoding.EncodeToString(PeriodicInterval(25)), "AAAAAAAAABk=")
}
