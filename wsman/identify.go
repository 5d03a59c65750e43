package wsman

import (
	"context"
	"fmt"
)

// Identity is the answer to Identify.
type Identity struct {
	ProtocolVersion  string
	ProductVendor    string
	ProductVersion   string
	SecurityProfiles []string
	Response         *Response
}

// Identify sends a WS-Management Identify request (no Action, no addressing
// headers; body wsmid:Identify) and reads the IdentifyResponse.
func (c *Client) Identify(ctx context.Context) (*Identity, error) {
	doc, env, _ := newEnvelopeDoc()
	body := env.CreateElement(pfxSOAP + ":Body")
	id := body.CreateElement(pfxIdent + ":Identify")
	id.CreateAttr("xmlns:"+pfxIdent, NSIdentity)
	resp, err := c.exchange(ctx, "Identify", "", serialize(doc), "", "", nil)
	if err != nil {
		return nil, err
	}
	el := Child(resp.Body, NSIdentity, "IdentifyResponse")
	if el == nil {
		return nil, fmt.Errorf("%w: expected wsmid:IdentifyResponse, got %s", ErrMalformed, describe(resp.Content()))
	}
	out := &Identity{Response: resp}
	out.ProtocolVersion, _ = ChildText(el, NSIdentity, "ProtocolVersion")
	out.ProductVendor, _ = ChildText(el, NSIdentity, "ProductVendor")
	out.ProductVersion, _ = ChildText(el, NSIdentity, "ProductVersion")
	if sp := Child(el, NSIdentity, "SecurityProfiles"); sp != nil {
		for _, p := range Children(sp, NSIdentity, "SecurityProfileName") {
			out.SecurityProfiles = append(out.SecurityProfiles, Text(p))
		}
	}
	return out, nil
}
