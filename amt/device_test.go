package amt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtkit/amtkit/wsman"
	"github.com/amtkit/amtkit/wsman/wsmantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test inputs that pass the client-side checks.
var (
	testRealm = "Digest:BA870000000000000000000000000000"
)

func testPassword() Secret { return NewSecret("P@ssw0rd") }

func testNonce() []byte {
	b := make([]byte, 20)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}

var (
	certOnce sync.Once
	certs    []*x509.Certificate
	rsaKey   *rsa.PrivateKey
)

// testChain returns a leaf → intermediate → root chain of throw-away ECDSA
// certificates and a small RSA key (generated once per test binary).
func testChain(t testing.TB) []*x509.Certificate {
	t.Helper()
	certOnce.Do(func() {
		var err error
		rsaKey, err = rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // test key, only marshalled
		if err != nil {
			panic(err)
		}
		mk := func(cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool) (*x509.Certificate, *ecdsa.PrivateKey) {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				panic(err)
			}
			tmpl := &x509.Certificate{
				SerialNumber:          big.NewInt(int64(len(certs) + 1)),
				Subject:               pkix.Name{CommonName: cn},
				NotBefore:             time.Unix(1700000000, 0),
				NotAfter:              time.Unix(2000000000, 0),
				IsCA:                  ca,
				BasicConstraintsValid: true,
			}
			if parent == nil {
				parent, parentKey = tmpl, k
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
			if err != nil {
				panic(err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				panic(err)
			}
			return c, k
		}
		root, rk := mk("root", nil, nil, true)
		mid, mk2 := mk("intermediate", root, rk, true)
		leaf, _ := mk("leaf", mid, mk2, false)
		certs = []*x509.Certificate{leaf, mid, root}
	})
	return certs
}

// methodCase is one method with the ReturnValues its class documents.
type methodCase struct {
	uri, method string
	call        func(ctx context.Context, d *Device) error
	codes       map[uint32]error // ReturnValue → what errors.Is must match
}

func allMethodCases(t testing.TB) []methodCase {
	chain := testChain(t)
	sig := SetupSignature{McNonce: testNonce(), Signature: []byte{1, 2, 3}}
	user := UserACLEntryRequest{Username: "operator", Password: testPassword(), DigestRealm: testRealm, Access: AccessNetwork, Realms: []Realm{RealmRedirection}}
	now := time.Unix(1704586865, 0)
	ptStatus := func(codes ...Status) map[uint32]error {
		m := map[uint32]error{}
		for _, c := range codes {
			m[uint32(c)] = c
		}
		return m
	}
	sac, hbs, auth, ts, pk, ieee, optIn := URISetupAndConfigurationService, URIHostBasedSetupService, URIAuthorizationService,
		URITimeSynchronizationService, URIPublicKeyManagementService, URIIEEE8021xSettings, URIOptInService
	optInCodes := func(code2066 error) map[uint32]error {
		m := map[uint32]error{1: ErrOptInInternalError, 2: ErrOptInInvalidState, 3: ErrOptInBlocked, 4: ErrOptInFailedFFS}
		if code2066 != nil {
			m[2066] = code2066
		}
		return m
	}
	return []methodCase{
		// AMT_SetupAndConfigurationService: PT_STATUS.
		{sac, "CommitChanges", func(ctx context.Context, d *Device) error { return d.CommitChanges(ctx) },
			ptStatus(StatusInternalError, StatusFlashWriteLimitExceeded, StatusDataMissing)},
		{sac, "Unprovision", func(ctx context.Context, d *Device) error { return d.Unprovision(ctx) },
			ptStatus(StatusInternalError, StatusNotPermitted, StatusInvalidParameter, StatusBlockingComponent)},
		{sac, "PartialUnprovision", func(ctx context.Context, d *Device) error { return d.PartialUnprovision(ctx) },
			ptStatus(StatusInternalError, StatusNotPermitted, StatusBlockingComponent)},
		{sac, "SetMEBxPassword", func(ctx context.Context, d *Device) error { return d.SetMEBxPassword(ctx, testPassword()) },
			ptStatus(StatusInternalError, StatusNotPermitted, StatusInvalidPassword)},
		{sac, "GetUuid", func(ctx context.Context, d *Device) error { _, err := d.UUID(ctx); return err },
			ptStatus(StatusInternalError)},
		{sac, "ExtendProvisioningPeriod", func(ctx context.Context, d *Device) error { return d.ExtendProvisioningPeriod(ctx, 6) },
			ptStatus(StatusInternalError, StatusNotPermitted, StatusInvalidParameter)},
		{sac, "GetUnprovisionBlockingComponents", func(ctx context.Context, d *Device) error {
			_, err := d.UnprovisionBlockingComponents(ctx)
			return err
		}, ptStatus(StatusInternalError)},

		// IPS_HostBasedSetupService: each method's own map.
		{hbs, "Setup", func(ctx context.Context, d *Device) error { return d.Setup(ctx, testPassword(), testRealm, nil) },
			map[uint32]error{1: ErrHostSetupInternalError, 2: ErrHostSetupInvalidState, 3: ErrHostSetupInvalidParameter,
				4: ErrHostSetupMethodDisabled, 5: ErrHostSetupAuthFailed, 6: ErrHostSetupFlashWriteLimit}},
		{hbs, "AdminSetup", func(ctx context.Context, d *Device) error { return d.AdminSetup(ctx, testPassword(), testRealm, sig) },
			map[uint32]error{1: ErrHostSetupInternalError, 2: ErrHostSetupInvalidState, 3: ErrHostSetupInvalidParameter,
				5: ErrHostSetupAuthFailed, 6: ErrHostSetupFlashWriteLimit}},
		{hbs, "AddNextCertInChain", func(ctx context.Context, d *Device) error { return d.AddNextCertInChain(ctx, chain[0], true, false) },
			map[uint32]error{1: ErrHostSetupInvalidParameter, 2: ErrHostSetupInternalError, 3: ErrHostSetupInvalidState,
				4: ErrHostSetupCertVerifyFailed, 5: ErrHostSetupChainTooLong}},
		{hbs, "UpgradeClientToAdmin", func(ctx context.Context, d *Device) error { return d.UpgradeClientToAdmin(ctx, sig) },
			map[uint32]error{1: ErrHostSetupInternalError, 2: ErrHostSetupInvalidState, 3: ErrHostSetupInvalidParameter,
				5: ErrHostSetupAuthFailed}},
		{hbs, "DisableClientControlMode", func(ctx context.Context, d *Device) error { return d.DisableClientControlMode(ctx) },
			map[uint32]error{1: ErrHostSetupInternalError, 2: ErrHostSetupInvalidState}},

		// AMT_AuthorizationService: PT_STATUS (class-wide union).
		{auth, "SetAdminAclEntryEx", func(ctx context.Context, d *Device) error {
			return d.SetAdminACLEntryEx(ctx, "admin", testPassword(), testRealm)
		}, ptStatus(StatusInternalError, StatusInvalidName, StatusNotPermitted, StatusFlashWriteLimitExceeded, StatusInvalidPassword, StatusAuditFail)},
		{auth, "GetAdminAclEntry", func(ctx context.Context, d *Device) error { _, err := d.AdminACLEntry(ctx); return err },
			ptStatus(StatusInternalError, StatusNotPermitted)},
		{auth, "GetAdminAclEntryStatus", func(ctx context.Context, d *Device) error { _, err := d.AdminACLEntryStatus(ctx); return err },
			ptStatus(StatusInternalError)},
		{auth, "GetAdminNetAclEntryStatus", func(ctx context.Context, d *Device) error {
			_, err := d.AdminNetACLEntryStatus(ctx)
			return err
		}, ptStatus(StatusInternalError)},
		{auth, "AddUserAclEntryEx", func(ctx context.Context, d *Device) error { _, err := d.AddUserACLEntryEx(ctx, user); return err },
			ptStatus(StatusInvalidName, StatusMaxLimitReached, StatusInvalidPassword, StatusInvalidRealm, StatusDuplicate, StatusMaxKerbDomainReached, StatusNotPermitted)},
		{auth, "EnumerateUserAclEntries", func(ctx context.Context, d *Device) error { _, err := d.UserACLEntryHandles(ctx); return err },
			ptStatus(StatusInvalidIndex, StatusNotPermitted)},
		{auth, "GetUserAclEntryEx", func(ctx context.Context, d *Device) error { _, err := d.UserACLEntryEx(ctx, 3); return err },
			ptStatus(StatusInvalidHandle, StatusNotPermitted)},
		{auth, "UpdateUserAclEntryEx", func(ctx context.Context, d *Device) error { return d.UpdateUserACLEntryEx(ctx, 3, user) },
			ptStatus(StatusInvalidHandle, StatusInvalidRealm, StatusInvalidPassword, StatusFlashWriteLimitExceeded)},
		{auth, "RemoveUserAclEntry", func(ctx context.Context, d *Device) error { return d.RemoveUserACLEntry(ctx, 3) },
			ptStatus(StatusInvalidHandle, StatusNotPermitted)},
		{auth, "SetAclEnabledState", func(ctx context.Context, d *Device) error { return d.SetACLEnabledState(ctx, 3, false) },
			ptStatus(StatusInvalidHandle, StatusNotPermitted)},
		{auth, "GetAclEnabledState", func(ctx context.Context, d *Device) error { _, err := d.ACLEnabledState(ctx, 3); return err },
			ptStatus(StatusInvalidHandle)},

		// AMT_TimeSynchronizationService.
		{ts, "GetLowAccuracyTimeSynch", func(ctx context.Context, d *Device) error { _, err := d.LowAccuracyTimeSynch(ctx); return err },
			ptStatus(StatusInternalError)},
		{ts, "SetHighAccuracyTimeSynch", func(ctx context.Context, d *Device) error { return d.SetHighAccuracyTimeSynch(ctx, now, now, now) },
			ptStatus(StatusInternalError, StatusInvalidParameter, StatusFlashWriteLimitExceeded)},

		// AMT_PublicKeyManagementService.
		{pk, "GenerateKeyPair", func(ctx context.Context, d *Device) error {
			_, err := d.GenerateKeyPair(ctx, KeyAlgorithmRSA, 2048)
			return err
		}, ptStatus(StatusInternalError, StatusMaxLimitReached, StatusInvalidParameter, StatusFlashWriteLimitExceeded, StatusUnsupported, StatusOperationInProgress)},
		{pk, "AddKey", func(ctx context.Context, d *Device) error { _, err := d.AddKey(ctx, rsaKey); return err },
			ptStatus(StatusInternalError, StatusMaxLimitReached, StatusFlashWriteLimitExceeded, StatusDuplicate, StatusInvalidKey)},
		{pk, "AddCertificate", func(ctx context.Context, d *Device) error { _, err := d.AddCertificate(ctx, chain[0]); return err },
			ptStatus(StatusInternalError, StatusMaxLimitReached, StatusDuplicate, StatusInvalidCert, StatusUnsupported)},
		{pk, "AddTrustedRootCertificate", func(ctx context.Context, d *Device) error {
			_, err := d.AddTrustedRootCertificate(ctx, chain[2])
			return err
		}, ptStatus(StatusNotPermitted, StatusMaxLimitReached, StatusDuplicate, StatusInvalidCert)},
		{pk, "GeneratePKCS10RequestEx", func(ctx context.Context, d *Device) error {
			_, err := d.GeneratePKCS10RequestEx(ctx, "Intel(r) AMT Key: Handle: 0", CSRSigningSHA256RSA, []byte{0x30, 0})
			return err
		}, ptStatus(StatusInternalError, StatusInvalidParameter, StatusInvalidKey, StatusNotPermitted)},

		// IPS_IEEE8021xSettings.SetCertificates: 0/1.
		{ieee, "SetCertificates", func(ctx context.Context, d *Device) error {
			return d.SetIEEE8021xCertificates(ctx, "Intel(r) AMT Certificate: Handle: 1", "Intel(r) AMT Certificate: Handle: 2")
		}, map[uint32]error{1: ErrIEEE8021xInternalError}},

		// IPS_OptInService: the class's own map; 2066 is a wrong code only
		// for SendOptInCode.
		{optIn, "StartOptIn", func(ctx context.Context, d *Device) error { return d.StartOptIn(ctx) }, optInCodes(nil)},
		{optIn, "SendOptInCode", func(ctx context.Context, d *Device) error { return d.SendOptInCode(ctx, 123456) }, optInCodes(ErrOptInWrongCode)},
		{optIn, "CancelOptIn", func(ctx context.Context, d *Device) error { return d.CancelOptIn(ctx) }, optInCodes(nil)},
	}
}

// TestDeviceReturnValues runs every method against a fake that returns each
// documented failure code of its family, and checks the typed error: the
// family's sentinel matches, the OpError names the class and method, and the
// IPS enumerations are never read as PT_STATUS.
func TestDeviceReturnValues(t *testing.T) {
	ctx := context.Background()
	for _, mc := range allMethodCases(t) {
		t.Run(mc.method, func(t *testing.T) {
			for code, want := range mc.codes {
				d, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, code) })
				err := mc.call(ctx, d)
				require.Error(t, err, "ReturnValue %d", code)
				assert.ErrorIs(t, err, want, "ReturnValue %d", code)

				var op *OpError
				require.ErrorAs(t, err, &op)
				assert.Equal(t, wsman.ClassName(mc.uri), op.Class)
				assert.Equal(t, mc.method, op.Op)
				var rv *ReturnValueError
				require.ErrorAs(t, err, &rv)
				assert.Equal(t, code, rv.Value)
				assert.Equal(t, mc.method, rv.Method)

				var st Status
				isPT := strings.HasPrefix(wsman.ClassName(mc.uri), "AMT_")
				assert.Equal(t, isPT, errors.As(err, &st), "a %s ReturnValue must be a Status only for AMT_ methods", rv.Family())
				if !isPT {
					// AdminSetup 5 is AuthFailed, never PT_STATUS 5; SetCertificates 1 is not PT_STATUS 1.
					assert.NotErrorIs(t, err, Status(code))
				}
				assert.Contains(t, err.Error(), mc.method)
				requireMethodInput(t, f.only(t), mc.uri, mc.method)
			}
		})
	}
}

// TestDeviceChecksOwnOutput answers every method with another method's output
// element (ReturnValue 0) under the right Action: the binding must refuse it,
// not read whatever element comes first (a known go-wsman-messages bug checks
// SetMEBxPassword_OUTPUT in CommitChanges).
func TestDeviceChecksOwnOutput(t *testing.T) {
	ctx := context.Background()
	for _, mc := range allMethodCases(t) {
		t.Run(mc.method, func(t *testing.T) {
			other := "SetMEBxPassword"
			if mc.method == other {
				other = "CommitChanges"
			}
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				return wsmantest.MethodResponse(r, wsman.NewElement(r.ResourceURI, other+"_OUTPUT", wsman.Prop("ReturnValue", "0")))
			})
			err := mc.call(ctx, d)
			require.ErrorIs(t, err, ErrBadResponse)
			assert.Contains(t, err.Error(), mc.method+"_OUTPUT")
		})
		t.Run(mc.method+"/wrong namespace", func(t *testing.T) {
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				m, _ := r.Method()
				return wsmantest.MethodResponse(r, wsman.NewElement(URIGeneralSettings+"X", m+"_OUTPUT", wsman.Prop("ReturnValue", "0")))
			})
			require.ErrorIs(t, mc.call(ctx, d), ErrBadResponse)
		})
		t.Run(mc.method+"/no ReturnValue", func(t *testing.T) {
			d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
				m, _ := r.Method()
				return wsmantest.MethodResponse(r, wsman.NewElement(r.ResourceURI, m+"_OUTPUT"))
			})
			err := mc.call(ctx, d)
			require.ErrorIs(t, err, ErrBadResponse)
			require.ErrorIs(t, err, wsman.ErrNoReturnValue)
		})
	}
}

func TestReturnValueError(t *testing.T) {
	tests := []struct {
		class, method string
		value         uint32
		family        string
		status        Status
		isStatus      bool
		sentinel      error
		text          string
	}{
		{"AMT_SetupAndConfigurationService", "CommitChanges", 2057, "PT_STATUS", StatusDataMissing, true, nil, "CommitChanges returned 2057 (PT_STATUS_DATA_MISSING)"},
		{"AMT_SetupAndConfigurationService", "CommitChanges", 2071, "PT_STATUS", Status(2071), true, nil, "CommitChanges returned 2071 (PT_STATUS 2071)"},
		{"IPS_HostBasedSetupService", "AdminSetup", 5, "IPS_HostBasedSetupService", 0, false, ErrHostSetupAuthFailed, "AdminSetup returned 5 (host-based setup: authentication failed)"},
		{"IPS_HostBasedSetupService", "AdminSetup", 4, "IPS_HostBasedSetupService", 0, false, nil, "AdminSetup returned 4"},
		{"IPS_HostBasedSetupService", "Setup", 4, "IPS_HostBasedSetupService", 0, false, ErrHostSetupMethodDisabled, "Setup returned 4 (host-based setup: method disabled)"},
		{"IPS_HostBasedSetupService", "AddNextCertInChain", 1, "IPS_HostBasedSetupService", 0, false, ErrHostSetupInvalidParameter, "AddNextCertInChain returned 1 (host-based setup: invalid parameter)"},
		{"IPS_HostBasedSetupService", "AddNextCertInChain", 9, "IPS_HostBasedSetupService", 0, false, nil, "AddNextCertInChain returned 9"},
		{"IPS_IEEE8021xSettings", "SetCertificates", 1, "SetCertificates", 0, false, ErrIEEE8021xInternalError, "SetCertificates returned 1 (802.1X SetCertificates: internal error)"},
		{"CIM_BootService", "SetBootConfigRole", 32768 + 2057, "CIM", StatusDataMissing, true, nil, "SetBootConfigRole returned 34825 (PT_STATUS_DATA_MISSING)"},
		{"CIM_BootService", "SetBootConfigRole", 2, "CIM", 0, false, nil, "SetBootConfigRole returned 2"},
		{"CIM_BootService", "SetBootConfigRole", 4096, "CIM", 0, false, nil, "SetBootConfigRole returned 4096"},
		{"IPS_OptInService", "StartOptIn", 2, "IPS_OptInService", 0, false, ErrOptInInvalidState, "StartOptIn returned 2 (user consent: not in a state for this call (not started, expired or already given))"},
		{"IPS_OptInService", "StartOptIn", 3, "IPS_OptInService", 0, false, ErrOptInBlocked, "StartOptIn returned 3 (user consent: blocked after failed attempts)"},
		{"IPS_OptInService", "SendOptInCode", 2066, "IPS_OptInService", 0, false, ErrOptInWrongCode, "SendOptInCode returned 2066 (user consent: wrong code)"},
		{"IPS_OptInService", "CancelOptIn", 2066, "IPS_OptInService", 0, false, nil, "CancelOptIn returned 2066"},
		{"IPS_OptInService", "CancelOptIn", 5, "IPS_OptInService", 0, false, nil, "CancelOptIn returned 5"},
		{"IPS_UnknownService", "Method", 2, "unknown", 0, false, nil, "Method returned 2"},
	}
	for _, tc := range tests {
		t.Run(tc.method+"/"+tc.text, func(t *testing.T) {
			e := &ReturnValueError{Class: tc.class, Method: tc.method, Value: tc.value}
			var err error = &OpError{Class: tc.class, Op: tc.method, Err: e}
			assert.Equal(t, tc.family, e.Family())
			st, ok := e.Status()
			assert.Equal(t, tc.isStatus, ok)
			assert.Equal(t, tc.status, st)
			if tc.isStatus {
				assert.ErrorIs(t, err, tc.status)
			} else {
				var s Status
				assert.False(t, errors.As(err, &s))
			}
			if tc.sentinel != nil {
				assert.ErrorIs(t, err, tc.sentinel)
			}
			for _, other := range []error{ErrHostSetupAuthFailed, ErrHostSetupInternalError, ErrHostSetupMethodDisabled, ErrIEEE8021xInternalError,
				ErrOptInInvalidState, ErrOptInBlocked, ErrOptInWrongCode, ErrOptInInternalError, ErrOptInFailedFFS} {
				if other != tc.sentinel {
					assert.NotErrorIs(t, err, other)
				}
			}
			assert.Equal(t, tc.text, e.Error())
			assert.Equal(t, "amt: "+tc.class+"."+tc.method+": "+tc.text, err.Error())
		})
	}
}

// TestOpErrorFaultStatus: a fault with an AMT-STATUS detail on an intrinsic
// operation matches both the fault (and its subcode) and the Status.
func TestOpErrorFaultStatus(t *testing.T) {
	d, _ := newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.FaultReply(wsmantest.InternalError(uint32(StatusNotPermitted)))
	})
	_, err := d.GeneralSettings(context.Background())
	require.Error(t, err)
	assert.ErrorIs(t, err, StatusNotPermitted)
	assert.ErrorIs(t, err, wsman.ErrInternalError)
	var f *wsman.Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, http.StatusInternalServerError, f.HTTPStatus)
	var op *OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, StatusNotPermitted, op.Status)
	assert.Equal(t, "AMT_GeneralSettings", op.Class)
	assert.Equal(t, "Get", op.Op)
	assert.NotErrorIs(t, err, StatusInternalError)

	// Without an AMT-STATUS detail only the fault matches.
	d, _ = newFake(t, func(r *wsmantest.Request) wsmantest.Reply {
		return wsmantest.FaultReply(wsmantest.DestinationUnreachable())
	})
	_, err = d.IEEE8021xSettings(context.Background())
	require.ErrorIs(t, err, wsman.ErrDestinationUnreachable)
	require.ErrorAs(t, err, &op)
	assert.Equal(t, Status(0), op.Status)
	var st Status
	assert.False(t, errors.As(err, &st))
}

// TestDeviceTransportErrors: a dropped connection after the request was sent
// (AMT 19+ CommitChanges) stays recognisable through the OpError.
func TestDeviceTransportErrors(t *testing.T) {
	var mu sync.Mutex
	seen := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = wsmantest.ReadRequest(r, 0)
		mu.Lock()
		seen++
		mu.Unlock()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	})
	d := newDeviceFor(t, h)
	err := d.CommitChanges(context.Background())
	require.Error(t, err)
	assert.ErrorIs(t, err, wsman.ErrResponseLost)
	var te *wsman.TransportError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.RequestSent())
	var op *OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "CommitChanges", op.Op)
	mu.Lock()
	assert.GreaterOrEqual(t, seen, 1)
	mu.Unlock()

	// A cancelled context never reaches the device.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d2, f := newFake(t, func(r *wsmantest.Request) wsmantest.Reply { return output(r, 0) })
	require.ErrorIs(t, d2.CommitChanges(ctx), context.Canceled)
	assert.Empty(t, f.requests())
}

func TestNewDeviceNil(t *testing.T) {
	assert.Panics(t, func() { NewDevice(nil) })
}
