package pthi

import (
	"context"

	"github.com/amtkit/amtkit/amt"
)

// StartSecureConfiguration sends StartConfigurationHBased for the provisioning
// certificate whose leaf hash is serverHash (see [LeafHash]), without host VPN
// and with an empty DNS-suffix list — the request rpc-go sends
// (internal/commands/activate/local.go, startSecureHostBasedConfiguration) —
// and returns the hash of the TLS certificate AMT will present on its local
// TLS port. The firmware moves to "in provisioning"; [Client.StopConfiguration]
// undoes it. It is the shape provisioning.HostAgent expects.
func (c *Client) StartSecureConfiguration(ctx context.Context, serverHash amt.CertHash) (amt.CertHash, error) {
	return c.StartConfigurationHBased(ctx, HBasedRequest{ServerHash: serverHash})
}

// LocalSystemCredentials returns the $$OsAdmin user name and password
// ([Client.LocalSystemAccount]) as two values, the shape
// provisioning.HostAgent expects.
func (c *Client) LocalSystemCredentials(ctx context.Context) (string, amt.Secret, error) {
	a, err := c.LocalSystemAccount(ctx)
	if err != nil {
		return "", amt.Secret{}, err
	}
	return a.Username, a.Password, nil
}
