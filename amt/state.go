package amt

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=ProvisioningState,ControlMode,ProvisioningMode -linecomment -output=state_string.go

// ProvisioningState is AMT_SetupAndConfigurationService.ProvisioningState, also
// reported over PTHI. String returns "Pre", "In", "Post" or "ProvisioningState(n)".
type ProvisioningState uint8

// Provisioning states.
const (
	// PreProvisioning: factory state; the device may be in setup mode sending hellos.
	PreProvisioning ProvisioningState = 0 // Pre
	// InProvisioning: remote configuration has started (a TLS session with a
	// configuration server or an agent's StartConfiguration) and waits for CommitChanges.
	InProvisioning ProvisioningState = 1 // In
	// PostProvisioning: configured; the device is in client or admin control mode.
	PostProvisioning ProvisioningState = 2 // Post
)

// ControlMode is the activation mode: IPS_HostBasedSetupService.CurrentControlMode
// and the PTHI control mode use the same numbering. String returns "None", "CCM",
// "ACM" or "ControlMode(n)".
type ControlMode uint8

// Control modes.
const (
	// ControlModeNone: not activated.
	ControlModeNone ControlMode = 0 // None
	// ControlModeCCM: client control mode (host-based Setup); some features need
	// user consent.
	ControlModeCCM ControlMode = 1 // CCM
	// ControlModeACM: admin control mode (remote configuration, AdminSetup or an upgrade).
	ControlModeACM ControlMode = 2 // ACM
)

// ProvisioningMode is AMT_SetupAndConfigurationService.ProvisioningMode. Only two
// values are documented in public sources. String returns "Admin", "Client" or
// "ProvisioningMode(n)".
type ProvisioningMode uint16

// Provisioning modes.
const (
	// ProvisioningModeAdmin: admin control mode.
	ProvisioningModeAdmin ProvisioningMode = 1 // Admin
	// ProvisioningModeClient: client control mode.
	ProvisioningModeClient ProvisioningMode = 4 // Client
)
