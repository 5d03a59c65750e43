package provisioning

import "github.com/amtkit/amtkit/amt"

// Temporary until amt.FirmwareFor lands.
type firmwareFacts struct {
	Version                    amt.Version
	PSK                        bool
	AgentInitiatedRemoteConfig bool
	BareMetalRemoteConfig      bool
	GenerateKeyPair            bool
	HostBasedSetupService      bool
	TLS12                      bool
	ECCTLSKey                  bool
	RemoteNonTLSPort           bool
}

func firmwareFor(v amt.Version) firmwareFacts {
	at := func(maj, min, build int) bool {
		if v.Major != maj {
			return v.Major > maj
		}
		if v.Minor != min {
			return v.Minor > min
		}
		return v.Build >= build
	}
	f := firmwareFacts{Version: v}
	f.PSK = v.Major < 11
	f.AgentInitiatedRemoteConfig = (v.Major == 2 && ((v.Minor == 2 && v.Build >= 20) || v.Minor == 6)) || v.Major >= 3
	f.BareMetalRemoteConfig = at(3, 2, 2)
	f.GenerateKeyPair = at(6, 2, 0)
	f.HostBasedSetupService = at(6, 1, 0)
	f.TLS12 = v.Major >= 12
	f.ECCTLSKey = v.Major >= 22
	f.RemoteNonTLSPort = !at(16, 1, 0)
	return f
}
