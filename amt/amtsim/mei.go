package amtsim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/pthi"
)

// The simulated MEI: what a local agent on the device reaches through the MEI
// (HECI) driver. [Device.MEI] is the PTHI client, [Device.WatchdogMEI] the
// watchdog client (the "is change to AMT enabled" query and
// SetAmtOperationalState), and [Device.Agent] a pthi.Client over both. Every
// request is decoded as firmware would (pthi.DecodeRequest: header, version,
// length) and answered in the layouts of docs/pthi.md, so the agent side is
// tested against the device's state, not against replayed bytes.

// ErrMEIClosed is returned by the simulated MEI of a device that was closed.
var ErrMEIClosed = errors.New("amtsim: MEI device closed")

// meiTransport is the PTHI side of the simulated MEI.
type meiTransport struct {
	d *Device
}

// watchdogTransport is the watchdog client of the simulated MEI.
type watchdogTransport struct {
	d *Device
}

// MEI returns a [pthi.Transport] connected to the device's PTHI client: the
// configuration commands a local agent sends (versions, UUID, provisioning
// state, control mode, local system account, root hashes, PKI DNS suffix,
// OTP, Start/Stop configuration, StartConfigurationHBased, Unprovision). It is
// safe for concurrent use.
func (d *Device) MEI() pthi.Transport { return meiTransport{d: d} }

// WatchdogMEI returns a [pthi.Transport] connected to the device's watchdog
// client ([pthi.ClientWatchdog]): IsChangeToAMTEnabled and
// SetAmtOperationalState.
func (d *Device) WatchdogMEI() pthi.Transport { return watchdogTransport{d: d} }

// Agent returns a pthi.Client over [Device.MEI] with [Device.WatchdogMEI] as
// its watchdog transport: what an agent running on the device uses.
func (d *Device) Agent() *pthi.Client {
	return &pthi.Client{Transport: d.MEI(), Watchdog: d.WatchdogMEI()}
}

func (t meiTransport) Send(ctx context.Context, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := t.d
	if d.isClosed() {
		return nil, ErrMEIClosed
	}
	cmd, payload, err := pthi.DecodeRequest(req)
	if err != nil {
		// Firmware answers a request it cannot parse with
		// PT_STATUS_INVALID_MESSAGE_LENGTH (the simulator's choice for
		// every malformed header).
		return pthi.AppendResponse(nil, cmd.Request(), amt.StatusInvalidMessageLength, nil)
	}
	st, out := d.pthiCommand(cmd, payload)
	if st != amt.StatusSuccess {
		out = nil
	}
	return pthi.AppendResponse(nil, cmd, st, out)
}

// isClosed reports whether Close ran.
func (d *Device) isClosed() bool {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	return d.closed
}

// pthiCommand answers one PTHI command: its status and payload.
func (d *Device) pthiCommand(cmd pthi.Command, p []byte) (amt.Status, []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &d.st
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	noPayload := func() bool { return len(p) == 0 }
	switch cmd {
	case pthi.CmdGetCodeVersions:
		if !noPayload() {
			return amt.StatusInvalidMessageLength, nil
		}
		b, err := d.codeVersions().AppendBinary(nil)
		if err != nil {
			return amt.StatusInternalError, nil
		}
		return amt.StatusSuccess, b
	case pthi.CmdGetUUID:
		id := d.uuid
		if d.cfg.Rogue != nil && d.cfg.Rogue.ReportTrueUUID {
			id = d.true_
		}
		w := id.Wire()
		return amt.StatusSuccess, w[:]
	case pthi.CmdGetProvisioningState:
		prov := st.prov
		if st.settleReads > 0 && prov == amt.PostProvisioning {
			st.settleReads-- // Behavior.CommitSettleReads: still reloading
			prov = amt.InProvisioning
		}
		return amt.StatusSuccess, u32(uint32(prov))
	case pthi.CmdGetControlMode:
		return amt.StatusSuccess, u32(uint32(st.mode))
	case pthi.CmdGetLocalSystemAccount:
		if len(p) != 40 {
			return amt.StatusInvalidMessageLength, nil
		}
		b, err := pthi.LocalSystemAccount{Username: localSystemUser, Password: d.localPass}.AppendBinary(nil)
		if err != nil {
			return amt.StatusInternalError, nil
		}
		// The two 33-byte fields and two bytes of padding: 68 bytes, the only
		// length MeshCentral's agent takes (docs/firmware-rules.md P6).
		return amt.StatusSuccess, append(b, 0, 0)
	case pthi.CmdEnumerateHashHandles:
		b := u32(uint32(len(st.hashes)))
		for i := range st.hashes {
			b = binary.LittleEndian.AppendUint32(b, uint32(i))
		}
		return amt.StatusSuccess, b
	case pthi.CmdGetCertHashEntry:
		if len(p) != 4 {
			return amt.StatusInvalidMessageLength, nil
		}
		i := binary.LittleEndian.Uint32(p)
		if int(i) >= len(st.hashes) {
			return amt.StatusInvalidHandle, nil
		}
		h := st.hashes[i]
		b, err := pthi.CertHashEntry{Name: h.Name, Hash: h.Hash, Default: h.Default, Active: h.Active}.AppendBinary(nil)
		if err != nil {
			return amt.StatusInternalError, nil
		}
		return amt.StatusSuccess, b
	case pthi.CmdGetPKIDNSSuffix:
		s := st.pkiSuffix
		return amt.StatusSuccess, append(binary.LittleEndian.AppendUint16(nil, uint16(len(s))), s...)
	case pthi.CmdSetPKIDNSSuffix:
		// u16 length and the suffix without a NUL (intel/lms
		// SetDNSSuffixCommand.h, MeshAgent pthi_SetDnsSuffix). The limit is
		// pthi.MaxDNSSuffixLength; characters outside printable ASCII are
		// the simulator's refusal (a DNS name has none). No source names a
		// provisioning state in which the firmware refuses it: none is
		// refused here. An empty suffix clears it (DHCP's applies again).
		if len(p) < 2 || int(binary.LittleEndian.Uint16(p)) != len(p)-2 {
			return amt.StatusInvalidMessageLength, nil
		}
		s := p[2:]
		if len(s) > pthi.MaxDNSSuffixLength {
			return amt.StatusInvalidParameter, nil
		}
		for _, c := range s {
			if c < 0x21 || c > 0x7e {
				return amt.StatusInvalidParameter, nil
			}
		}
		st.pkiSuffix = string(s)
		return amt.StatusSuccess, nil
	case pthi.CmdGetLANInterfaceSettings:
		if len(p) != 4 {
			return amt.StatusInvalidMessageLength, nil
		}
		lan, ok := d.lanSettingsLocked(pthi.Interface(binary.LittleEndian.Uint32(p)))
		if !ok {
			return amt.StatusInvalidParameter, nil
		}
		b, err := lan.AppendBinary(nil)
		if err != nil {
			return amt.StatusInternalError, nil
		}
		return amt.StatusSuccess, b
	case pthi.CmdGetZeroTouchEnabled:
		if st.zeroTch {
			return amt.StatusSuccess, u32(1)
		}
		return amt.StatusSuccess, u32(0)
	case pthi.CmdGetProvisioningTLSMode:
		if d.cfg.PSK != nil {
			return amt.StatusSuccess, u32(uint32(pthi.TLSModePSK))
		}
		return amt.StatusSuccess, u32(uint32(pthi.TLSModePKI))
	case pthi.CmdSetProvisioningServerOTP:
		if len(p) < 3 {
			return amt.StatusInvalidMessageLength, nil
		}
		n := int(binary.LittleEndian.Uint16(p))
		if n != len(p)-2 || n < 9 || n > 33 || p[len(p)-1] != 0 {
			return amt.StatusInvalidParameter, nil
		}
		if st.prov == amt.PostProvisioning {
			return amt.StatusInvalidProvisioningState, nil
		}
		st.otp = amt.NewSecret(string(p[2 : len(p)-1]))
		return amt.StatusSuccess, nil
	case pthi.CmdStartConfiguration, pthi.CmdStartConfigurationEx:
		switch {
		case st.opDisabled:
			return amt.StatusInvalidPTMode, nil
		case st.prov == amt.PostProvisioning:
			return amt.StatusInvalidProvisioningState, nil
		}
		st.prov, st.agentStarted, st.netClosed = amt.InProvisioning, true, false
		st.windowEnd = d.now().Add(d.window())
		return amt.StatusSuccess, nil
	case pthi.CmdStopConfiguration:
		if !noPayload() {
			return amt.StatusInvalidMessageLength, nil
		}
		return d.stopConfigurationLocked(), nil
	case pthi.CmdStartConfigurationHBased:
		r, ok := parseHBasedRequest(p)
		if !ok {
			return amt.StatusInvalidParameter, nil
		}
		h, s := d.startHBasedLocked(r)
		if s != amt.StatusSuccess {
			return s, nil
		}
		out := append([]byte{byte(h.Alg)}, h.Sum...)
		return amt.StatusSuccess, append(out, make([]byte, 64-len(h.Sum))...)
	case pthi.CmdUnprovision:
		if len(p) != 4 {
			return amt.StatusInvalidMessageLength, nil
		}
		if m := binary.LittleEndian.Uint32(p); m > 1 {
			return amt.StatusInvalidParameter, nil
		}
		state, s := d.unprovisionLocalLocked()
		if s != amt.StatusSuccess {
			return s, nil
		}
		return amt.StatusSuccess, u32(uint32(state))
	}
	// A command the simulator does not implement.
	return amt.StatusInvalidMessageLength, nil
}

// codeVersions is the GetCodeVersions answer for the simulated version.
func (d *Device) codeVersions() pthi.CodeVersions {
	v := d.fw.Version
	ver := strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) + "." + strconv.Itoa(v.Build)
	build := "1579"
	if v.Revision != 0 {
		build = strconv.Itoa(v.Revision)
	}
	return pthi.CodeVersions{BIOS: "AMTSIM.86C.0001", Entries: []pthi.VersionEntry{
		{Description: "Flash", Version: ver}, {Description: "Netstack", Version: ver}, {Description: "AMTApps", Version: ver},
		{Description: "AMT", Version: ver}, {Description: "Sku", Version: "16392"}, {Description: "VendorID", Version: "8086"},
		{Description: "Build Number", Version: build},
	}}
}

// parseHBasedRequest reads the 390-byte StartConfigurationHBased payload
// (rpc-go's layout, docs/pthi.md).
func parseHBasedRequest(p []byte) (pthi.HBasedRequest, bool) {
	if len(p) != 1+64+1+4+320 {
		return pthi.HBasedRequest{}, false
	}
	alg := amt.HashAlgorithm(p[0])
	if alg != amt.HashSHA256 && alg != amt.HashSHA384 {
		return pthi.HBasedRequest{ServerHash: amt.CertHash{Alg: alg}}, true
	}
	r := pthi.HBasedRequest{ServerHash: amt.CertHash{Alg: alg, Sum: append([]byte(nil), p[1:1+alg.Size()]...)}, HostVPN: p[65] == 1}
	n := int(binary.LittleEndian.Uint32(p[66:70]))
	if n > 320 {
		return pthi.HBasedRequest{}, false
	}
	list := p[70 : 70+n]
	for len(list) > 0 {
		i := 0
		for i < len(list) && list[i] != 0 {
			i++
		}
		if i > 0 {
			r.DNSSuffixes = append(r.DNSSuffixes, string(list[:i]))
		}
		if i == len(list) {
			break
		}
		list = list[i+1:]
	}
	return r, true
}

func (t watchdogTransport) Send(ctx context.Context, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := t.d
	if d.isClosed() {
		return nil, ErrMEIClosed
	}
	if len(req) < 4 || req[0] != 0x05 || req[3] != 0x10 {
		return nil, fmt.Errorf("amtsim: watchdog client: unknown message % x", req)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case req[2] == 0x51 && len(req) == 4:
		return []byte{byte(d.changeEnabledLocked())}, nil
	case req[2] == 0x53 && len(req) == 5 && req[1] == 3:
		status := amt.StatusSuccess
		switch {
		case !d.fw.OperationalStateControl:
			status = amt.StatusInvalidMessageLength // an old interface has no 0x53
		case d.st.prov != amt.PreProvisioning:
			// "This call only works when AMT is in a pre-provisioned state"
			// (rpc-go issue 249); the status is the simulator's choice.
			status = amt.StatusInvalidPTMode
		case req[4] > 1:
			status = amt.StatusInvalidParameter
		default:
			d.st.opDisabled = req[4] == 0
		}
		return binary.LittleEndian.AppendUint32([]byte{0x05, 0x06, 0x53, 0x10}, uint32(status)), nil
	}
	return nil, fmt.Errorf("amtsim: watchdog client: unknown message % x", req)
}

// changeEnabledLocked is the IsChangeToAMTEnabled flags byte: bit 0 change
// allowed (in pre-provisioning), bit 1 AMT operational, bit 6 TLS on local
// ports, bit 7 new interface (16.1 and later). d.mu is held.
func (d *Device) changeEnabledLocked() pthi.ChangeEnabled {
	var f pthi.ChangeEnabled
	if d.st.prov == amt.PreProvisioning {
		f |= pthi.ChangeEnabledAllowed
	}
	if !d.fw.OperationalStateControl {
		return f
	}
	f |= pthi.ChangeEnabledNewInterface
	if !d.st.opDisabled {
		f |= pthi.ChangeEnabledOperational
	}
	if d.cfg.LocalTLSEnforced {
		f |= pthi.ChangeEnabledTLSOnLocalPorts
	}
	return f
}
