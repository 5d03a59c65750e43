package provisioning

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/amt/hello"
)

// Inventory is what the integrator knows about a device: never what the device or
// reverse DNS claims. An [Authorizer] returns it.
type Inventory struct {
	// UUID is the device's SMBIOS UUID.
	UUID amt.UUID
	// FQDN is the name AMT gets (HostName.DomainName), e.g.
	// "pc-0042.sales.contoso.com". Required for PKI provisioning.
	FQDN string
	// DNSSuffix is the suffix the firmware compares the provisioning certificate
	// against (DHCP option 15 or the MEBx "PKI DNS suffix"). Empty: FQDN without
	// its host label.
	DNSSuffix string
	// Profile names the [Profile] to apply. Empty: Config.DefaultProfile
	// (itself "default" when empty).
	Profile string
	// Address is host:port of the device's TLS port. Empty: the hello's source
	// address and port 16993.
	Address string
	// Wireless marks a device reachable only over wireless; its certificates are
	// reported as not renewable by the Maintainer.
	Wireless bool
}

// Suffix returns DNSSuffix, or FQDN without its first label.
func (inv Inventory) Suffix() string {
	if inv.DNSSuffix != "" {
		return inv.DNSSuffix
	}
	if i := strings.IndexByte(inv.FQDN, '.'); i >= 0 {
		return inv.FQDN[i+1:]
	}
	return ""
}

// HostDomain splits FQDN into AMT's HostName and DomainName.
func (inv Inventory) HostDomain() (host, domain string) {
	host, domain, _ = strings.Cut(inv.FQDN, ".")
	return host, domain
}

// AuthRequest is what an Authorizer decides on.
type AuthRequest struct {
	Hello    *hello.Message
	Source   netip.AddrPort
	Received time.Time
	// Agent is the agent-initiated request registered for this UUID, if any (its
	// OTP is checked later, on the device).
	Agent *AgentRequest
}

// Authorizer decides whether a device that sent a hello may be provisioned and, if
// so, returns its inventory record. Refusals should be [Reject] errors with a
// [Reason] (ReasonUnknownDevice, ReasonNotApproved); any other error fails the
// session with ReasonInternal.
//
// A hello proves nothing: approve by UUID alone only where the network is trusted
// (Audit reports it), and prefer agent-initiated provisioning with an OTP or
// devices with verifiable On-Die certificates.
type Authorizer interface {
	Authorize(ctx context.Context, req AuthRequest) (Inventory, error)
}

// AuthorizerFunc adapts a function to [Authorizer] (an approval callback).
type AuthorizerFunc func(ctx context.Context, req AuthRequest) (Inventory, error)

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context, req AuthRequest) (Inventory, error) {
	return f(ctx, req)
}

// InventoryList is an [Authorizer] over an imported list of devices (Configuration
// Manager's "Import Computer for Out of Band Management"). It is safe for
// concurrent use; the zero value is an empty list.
type InventoryList struct {
	mu      sync.RWMutex
	devices map[amt.UUID]Inventory
}

// NewInventoryList returns a list holding devs.
func NewInventoryList(devs ...Inventory) *InventoryList {
	l := &InventoryList{}
	for _, d := range devs {
		l.Add(d)
	}
	return l
}

// Add adds or replaces a device.
func (l *InventoryList) Add(inv Inventory) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.devices == nil {
		l.devices = make(map[amt.UUID]Inventory)
	}
	l.devices[inv.UUID] = inv
}

// Remove removes a device.
func (l *InventoryList) Remove(uuid amt.UUID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.devices, uuid)
}

// Lookup returns the device's record.
func (l *InventoryList) Lookup(uuid amt.UUID) (Inventory, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	inv, ok := l.devices[uuid]
	return inv, ok
}

// Len returns the number of devices.
func (l *InventoryList) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.devices)
}

// Authorize implements [Authorizer].
func (l *InventoryList) Authorize(_ context.Context, req AuthRequest) (Inventory, error) {
	inv, ok := l.Lookup(req.Hello.UUID)
	if !ok {
		return Inventory{}, Reject(ReasonUnknownDevice, "device %s is not in the inventory", req.Hello.UUID)
	}
	return inv, nil
}

// AgentRequest is what a local agent (through the integrator's console) tells the
// provisioner before a device it prepared sends its hello: agent-initiated remote
// configuration. The session then requires the device's ProvisioningServerOTP to
// equal OTP. An agent built on amt/pthi fills UUID, OTP and Firmware from
// pthi.AgentRequest (what its Prepare reported); the device's name comes from
// the Authorizer, never from the agent's report, and the OTP travels from agent
// to console over the integrator's own channel.
type AgentRequest struct {
	UUID amt.UUID
	// OTP is the one-time password the agent gave the firmware (8–31 characters).
	OTP amt.Secret
	// Inventory, when its FQDN is set, is used instead of asking the Authorizer.
	Inventory Inventory
	// Firmware is the version the agent read locally (informational).
	Firmware amt.Version
	// Expires bounds how long the request waits for the hello. Zero: 24 hours
	// after ExpectAgentRequest.
	Expires time.Time

	// Mismatches counts devices that answered for this UUID with another OTP
	// since the request was registered or last locked; at
	// Config.OTPMismatchLimit the request is locked until LockedUntil. An
	// impostor's mismatch never spends the request.
	Mismatches  int
	LockedUntil time.Time
}
