package pthi

import "strconv"

// Command is a PTHI command code: the 32-bit value in the message header. Requests
// carry the code with bit 23 clear; the firmware answers with the same code and bit 23
// set ([Command.Response]). The codes of the configuration class all start with 0x04.
//
// The codes below are those of intel/lms MEIClient/AMTHIClient (REQUEST_COMMAND_NUMBER
// constants), device-management-toolkit/rpc-go pkg/pthi/types.go and Ylianst/MeshAgent
// microlms/heci/PTHICommand.h; where a command appears in more than one source, the
// codes agree. docs/pthi.md lists the source of each layout.
type Command uint32

// ResponseBit is set in the command code of every response (bit 23, "IsResponse" in
// the COMMAND_FMT bit-field of the sources).
const ResponseBit Command = 1 << 23

// PTHI commands that amtkit implements.
const (
	// CmdUnprovision returns the device to pre-provisioning (a u32 provisioning
	// mode in the request). The firmware takes it from a local agent in client
	// control mode, and in the "in provisioning" half-state a halted activation
	// leaves; in admin control mode it refuses (rpc-go pkg/pthi Unprovision).
	CmdUnprovision Command = 0x04000010
	// CmdGetProvisioningState reads Pre/In/Post provisioning (u32).
	CmdGetProvisioningState Command = 0x04000011
	// CmdGetCodeVersions reads the BIOS version and the firmware component versions
	// ("AMT", "Flash", "Build Number", …).
	CmdGetCodeVersions Command = 0x0400001A
	// CmdGenerateRNGSeed asks AMT 2.x firmware to create its random-number seed.
	CmdGenerateRNGSeed Command = 0x04000028
	// CmdStartConfiguration starts remote configuration (opens the network interface
	// and starts sending hellos). Superseded by [CmdStartConfigurationEx].
	CmdStartConfiguration Command = 0x04000029
	// CmdSetProvisioningServerOTP stores the one-time password the configuration
	// server will read back over WS-Management.
	CmdSetProvisioningServerOTP Command = 0x0400002A
	// CmdGetProvisioningTLSMode reads whether remote configuration uses PSK or PKI.
	CmdGetProvisioningTLSMode Command = 0x0400002B
	// CmdEnumerateHashHandles lists the handles of the trusted root-certificate hashes.
	CmdEnumerateHashHandles Command = 0x0400002C
	// CmdGetCertHashEntry reads one trusted root-certificate hash by handle.
	CmdGetCertHashEntry Command = 0x0400002D
	// CmdGetRNGSeedStatus reads whether the random-number seed exists (AMT 2.x).
	CmdGetRNGSeedStatus Command = 0x0400002E
	// CmdSetPKIDNSSuffix sets the PKI DNS suffix the firmware matches against the
	// provisioning certificate's name.
	CmdSetPKIDNSSuffix Command = 0x0400002F
	// CmdGetZeroTouchEnabled reads whether PKI remote configuration is enabled.
	CmdGetZeroTouchEnabled Command = 0x04000030
	// CmdGetPKIDNSSuffix reads the PKI DNS suffix.
	CmdGetPKIDNSSuffix Command = 0x04000036
	// CmdGetLANInterfaceSettings reads the wired or wireless interface settings.
	CmdGetLANInterfaceSettings Command = 0x04000048
	// CmdGetUUID reads the SMBIOS UUID in wire (mixed-endian) order.
	CmdGetUUID Command = 0x0400005C
	// CmdStopConfiguration stops an In-provisioning configuration.
	CmdStopConfiguration Command = 0x0400005E
	// CmdStartConfigurationEx is StartConfiguration with an IPv6 switch.
	CmdStartConfigurationEx Command = 0x04000062
	// CmdGetLocalSystemAccount reads the $$OsAdmin account used by host-based setup.
	CmdGetLocalSystemAccount Command = 0x04000067
	// CmdGetControlMode reads None/CCM/ACM (u32).
	CmdGetControlMode Command = 0x0400006B
	// CmdStartConfigurationHBased arms host-based configuration over TLS (AMT 19+
	// with TLS enforced on local ports): it takes the provisioning leaf's hash and
	// returns the hash of AMT's own TLS certificate.
	CmdStartConfigurationHBased Command = 0x0400008B
)

func commandName(c Command) string {
	switch c {
	case CmdUnprovision:
		return "Unprovision"
	case CmdGetProvisioningState:
		return "GetProvisioningState"
	case CmdGetCodeVersions:
		return "GetCodeVersions"
	case CmdGenerateRNGSeed:
		return "GenerateRNGSeed"
	case CmdStartConfiguration:
		return "StartConfiguration"
	case CmdSetProvisioningServerOTP:
		return "SetProvisioningServerOTP"
	case CmdGetProvisioningTLSMode:
		return "GetProvisioningTLSMode"
	case CmdEnumerateHashHandles:
		return "EnumerateHashHandles"
	case CmdGetCertHashEntry:
		return "GetCertHashEntry"
	case CmdGetRNGSeedStatus:
		return "GetRNGSeedStatus"
	case CmdSetPKIDNSSuffix:
		return "SetPKIDNSSuffix"
	case CmdGetZeroTouchEnabled:
		return "GetZeroTouchEnabled"
	case CmdGetPKIDNSSuffix:
		return "GetPKIDNSSuffix"
	case CmdGetLANInterfaceSettings:
		return "GetLANInterfaceSettings"
	case CmdGetUUID:
		return "GetUUID"
	case CmdStopConfiguration:
		return "StopConfiguration"
	case CmdStartConfigurationEx:
		return "StartConfigurationEx"
	case CmdGetLocalSystemAccount:
		return "GetLocalSystemAccount"
	case CmdGetControlMode:
		return "GetControlMode"
	case CmdStartConfigurationHBased:
		return "StartConfigurationHBased"
	}
	return ""
}

// Commands returns the request codes amtkit implements, in numeric order.
func Commands() []Command {
	return []Command{
		CmdUnprovision, CmdGetProvisioningState, CmdGetCodeVersions, CmdGenerateRNGSeed,
		CmdStartConfiguration, CmdSetProvisioningServerOTP, CmdGetProvisioningTLSMode,
		CmdEnumerateHashHandles, CmdGetCertHashEntry, CmdGetRNGSeedStatus,
		CmdSetPKIDNSSuffix, CmdGetZeroTouchEnabled, CmdGetPKIDNSSuffix,
		CmdGetLANInterfaceSettings, CmdGetUUID, CmdStopConfiguration,
		CmdStartConfigurationEx, CmdGetLocalSystemAccount, CmdGetControlMode,
		CmdStartConfigurationHBased,
	}
}

// Response returns the code the firmware answers c with.
func (c Command) Response() Command { return c | ResponseBit }

// Request returns c with the response bit cleared.
func (c Command) Request() Command { return c &^ ResponseBit }

// IsResponse reports whether the response bit is set.
func (c Command) IsResponse() bool { return c&ResponseBit != 0 }

// String returns the command's name ("GetUUID", "GetUUID response"), or
// "Command(0x…)" for a code amtkit does not implement.
func (c Command) String() string {
	if n := commandName(c.Request()); n != "" {
		if c.IsResponse() {
			return n + " response"
		}
		return n
	}
	return "Command(0x" + strconv.FormatUint(uint64(c), 16) + ")"
}
