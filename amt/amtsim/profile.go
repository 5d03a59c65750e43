package amtsim

import (
	"github.com/amtkit/amtkit/amt"
)

// DefaultVersion is the firmware version a [Config] with a zero Version simulates.
const DefaultVersion = "16.1.25"

// verisignG1 is the factory hash amt.Firmware.VeriSignG1 says whether the
// firmware still ships.
const verisignG1 = "e7685634efacf69ace939a6b255b7b4fabef42935b50a265acb5cb6027e44e70"

// defaultHashesFor returns the factory root-hash table of a firmware: the
// entries of amt.DefaultRootHashes, without VeriSign Class 3 G1 where the
// firmware removed it, capped at the factory slot count (none before 2.6).
func defaultHashesFor(fw amt.Firmware) []RootHash {
	var out []RootHash
	for _, r := range amt.DefaultRootHashes() {
		if !fw.VeriSignG1 && r.Hash.Hex() == verisignG1 {
			continue
		}
		if len(out) == fw.FactoryHashSlots {
			break
		}
		out = append(out, RootHash{Name: r.Label, Hash: r.Hash, Default: true, Active: true})
	}
	return out
}
