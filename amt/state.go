package amt

import "strconv"

// ProvisioningState is AMT_SetupAndConfigurationService.ProvisioningState, also
// reported over PTHI.
type ProvisioningState uint8

// Provisioning states.
const (
	// PreProvisioning: factory state; the device may be in setup mode sending hellos.
	PreProvisioning ProvisioningState = 0
	// InProvisioning: remote configuration has started (a TLS session with a
	// configuration server or an agent's StartConfiguration) and waits for CommitChanges.
	InProvisioning ProvisioningState = 1
	// PostProvisioning: configured; the device is in client or admin control mode.
	PostProvisioning ProvisioningState = 2
)

// String returns "Pre", "In", "Post" or "ProvisioningState(n)".
func (s ProvisioningState) String() string {
	switch s {
	case PreProvisioning:
		return "Pre"
	case InProvisioning:
		return "In"
	case PostProvisioning:
		return "Post"
	}
	return "ProvisioningState(" + strconv.Itoa(int(s)) + ")"
}

// ControlMode is the activation mode: IPS_HostBasedSetupService.CurrentControlMode
// and the PTHI control mode use the same numbering.
type ControlMode uint8

// Control modes.
const (
	// ControlModeNone: not activated.
	ControlModeNone ControlMode = 0
	// ControlModeCCM: client control mode (host-based Setup); some features need
	// user consent.
	ControlModeCCM ControlMode = 1
	// ControlModeACM: admin control mode (remote configuration, AdminSetup or an upgrade).
	ControlModeACM ControlMode = 2
)

// String returns "None", "CCM", "ACM" or "ControlMode(n)".
func (m ControlMode) String() string {
	switch m {
	case ControlModeNone:
		return "None"
	case ControlModeCCM:
		return "CCM"
	case ControlModeACM:
		return "ACM"
	}
	return "ControlMode(" + strconv.Itoa(int(m)) + ")"
}

// ProvisioningMode is AMT_SetupAndConfigurationService.ProvisioningMode. Only two
// values are documented in public sources.
type ProvisioningMode uint16

// Provisioning modes.
const (
	ProvisioningModeAdmin  ProvisioningMode = 1 // admin control mode
	ProvisioningModeClient ProvisioningMode = 4 // client control mode
)

// String returns "Admin", "Client" or "ProvisioningMode(n)".
func (m ProvisioningMode) String() string {
	switch m {
	case ProvisioningModeAdmin:
		return "Admin"
	case ProvisioningModeClient:
		return "Client"
	}
	return "ProvisioningMode(" + strconv.Itoa(int(m)) + ")"
}
