package pthi_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
	"github.com/amtkit/amtkit/amt/pthi/pthitest"
)

// fakeDevice records what an AMT 16 device in Pre-provisioning answers to Prepare.
// A real agent opens the device with pthi.OpenMEI instead.
func fakeDevice() *pthitest.Replay {
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	versions, _ := pthi.CodeVersions{BIOS: "EXAMPLE.BIOS", Entries: []pthi.VersionEntry{
		{Description: "AMT", Version: "16.1.25"}, {Description: "Build Number", Version: "2052"},
	}}.AppendBinary(nil)
	root, _ := amt.ParseCertHash("CB3CCBB76031E5E0138F8DD39A23F9DE47FFC35E43C1144CEA27D46A5AB1CB5F")
	entry, _ := pthi.CertHashEntry{Name: "DigiCert Global Root G2", Hash: root, Default: true, Active: true}.AppendBinary(nil)
	otp := append(append([]byte{11, 0}, "Ot9-xQ2#pL"...), 0)
	return pthitest.NewReplay(
		pthitest.OK(pthi.CmdGetCodeVersions, nil, versions),
		pthitest.OK(pthi.CmdGetProvisioningState, nil, u32(0)),
		pthitest.OK(pthi.CmdGetZeroTouchEnabled, nil, u32(1)),
		pthitest.OK(pthi.CmdSetProvisioningServerOTP, otp, nil),
		pthitest.OK(pthi.CmdStartConfigurationEx, u32(0), nil),
		pthitest.OK(pthi.CmdGetProvisioningState, nil, u32(1)),
		pthitest.OK(pthi.CmdGetUUID, nil, []byte{0x3e, 0xc2, 0xff, 0xd2, 0xd1, 0x9d, 0x2d, 0x41, 0x86, 0x0a, 0x54, 0xb2, 0x03, 0x9b, 0x72, 0xff}),
		pthitest.OK(pthi.CmdGetPKIDNSSuffix, nil, append([]byte{12, 0}, "vprodemo.com"...)),
		pthitest.OK(pthi.CmdEnumerateHashHandles, nil, append(u32(1), u32(3)...)),
		pthitest.OK(pthi.CmdGetCertHashEntry, u32(3), entry),
	)
}

func ExampleClient_Prepare() {
	ctx := context.Background()
	c := pthi.NewClient(fakeDevice()) // pthi.OpenMEI(ctx, pthi.MEIConfig{}) on a real device
	req, err := c.Prepare(ctx, amt.NewSecret("Ot9-xQ2#pL"))
	if err != nil {
		fmt.Println("prepare:", err)
		return
	}
	fmt.Println("UUID:", req.UUID)
	fmt.Println("AMT:", req.Version, "state:", req.State, "mode:", req.TLSMode)
	fmt.Println("DNS suffix:", req.DNSSuffix)
	fmt.Println("trusted:", req.TrustedHashes[0])
	fmt.Println("OTP:", req.OTP) // secrets never print
	// Output:
	// UUID: d2ffc23e-9dd1-412d-860a-54b2039b72ff
	// AMT: 16.1.25.2052 state: In mode: PKI
	// DNS suffix: vprodemo.com
	// trusted: SHA-256:cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f
	// OTP: [REDACTED]
}

func ExampleCommandError() {
	ctx := context.Background()
	c := pthi.NewClient(pthitest.NewReplay(pthitest.Fail(pthi.CmdStopConfiguration, nil, amt.StatusInvalidPTMode)))
	err := c.StopConfiguration(ctx)
	if errors.Is(err, amt.StatusInvalidPTMode) {
		fmt.Println("not in provisioning; nothing to stop")
	}
	fmt.Println(err)
	// Output:
	// not in provisioning; nothing to stop
	// pthi: StopConfiguration failed: PT_STATUS_INVALID_PT_MODE (3)
}

func ExampleEncodeRequest() {
	req, _ := pthi.EncodeRequest(pthi.CmdGetUUID, nil)
	fmt.Printf("% x\n", req)
	// A response: the command with bit 23 set, length 20, status 0, 16 UUID bytes.
	resp, _ := pthi.AppendResponse(nil, pthi.CmdGetUUID, amt.StatusSuccess, make([]byte, 16))
	payload, err := pthi.DecodeResponse(pthi.CmdGetUUID, resp)
	fmt.Println(len(payload), err)
	_, err = pthi.DecodeResponse(pthi.CmdGetUUID, resp[:20])
	fmt.Println(errors.Is(err, pthi.ErrMalformed))
	// Output:
	// 01 01 00 00 5c 00 00 04 00 00 00 00
	// 16 <nil>
	// true
}

func ExampleLeafHash() {
	// In host-based TLS activation the agent hashes its provisioning leaf, arms the
	// firmware and pins the hash of AMT's certificate that comes back:
	//
	//	h, _ := pthi.LeafHash(chain[0])
	//	amtHash, err := c.StartConfigurationHBased(ctx, pthi.HBasedRequest{ServerHash: h})
	r := pthi.HBasedRequest{ServerHash: amt.CertHash{Alg: amt.HashSHA256, Sum: make([]byte, 32)}}
	p, _ := r.AppendBinary(nil)
	fmt.Println(len(p), "payload bytes")
	// Output: 390 payload bytes
}

func ExampleOpenMEI() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := pthi.OpenMEI(ctx, pthi.MEIConfig{Device: "/nonexistent/mei0"})
	if errors.Is(err, pthi.ErrNoDevice) || errors.Is(err, pthi.ErrMEIUnsupported) {
		fmt.Println("no MEI device: not an Intel AMT machine, or the driver is not loaded")
		return
	}
	defer m.Close()
	// Output: no MEI device: not an Intel AMT machine, or the driver is not loaded
}
