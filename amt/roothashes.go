package amt

import "encoding/hex"

// RootHashInfo describes one factory (default) root-certificate hash.
type RootHashInfo struct {
	// Label is the name the firmware shows for the entry, where one was seen in tool
	// output; otherwise the CA name in parentheses.
	Label string
	// CA is the subject of the root certificate the digest belongs to.
	CA string
	// Hash is the SHA-256 digest of the root certificate's DER encoding.
	Hash CertHash
	// Confirmed is false where neither a published CA certificate nor a firmware
	// label identifies the digest (two entries: Verizon Global Root, identified by
	// elimination, and one hash whose CA is unknown).
	Confirmed bool
	// Note records removals, expiry dates and other caveats.
	Note string
}

// DefaultRootHashes returns the factory root-certificate hashes seen on real AMT
// devices, reconstructed from two device dumps (an AMT 11.8 device in RPS's tests,
// src/commandParser.test.ts, and a newer device in the sample hellos of MeshCentral's
// provisioning server, amtprovisioningserver.js),
// with labels from tool output and identities confirmed by recomputing digests of
// published CA certificates.
//
// The default set differs by firmware release and OEM. Use this list to name the CA
// behind a hash a device reports, never as the device's trust list: decide against
// the hashes the device itself sends (hello packet or PTHI).
//
// Each call returns a new slice that the caller may modify.
func DefaultRootHashes() []RootHashInfo {
	out := make([]RootHashInfo, len(defaultRootHashes))
	for i, r := range defaultRootHashes {
		sum, err := hex.DecodeString(r.sha256)
		if err != nil || len(sum) != 32 {
			panic("amt: bad built-in root hash " + r.sha256) // caught by tests
		}
		out[i] = RootHashInfo{
			Label:     r.label,
			CA:        r.ca,
			Hash:      CertHash{Alg: HashSHA256, Sum: sum},
			Confirmed: r.confirmed,
			Note:      r.note,
		}
	}
	return out
}

// LookupDefaultRootHash returns the entry of [DefaultRootHashes] whose hash equals h.
func LookupDefaultRootHash(h CertHash) (RootHashInfo, bool) {
	for _, r := range DefaultRootHashes() {
		if r.Hash.Equal(h) {
			return r, true
		}
	}
	return RootHashInfo{}, false
}

type rootHashRow struct {
	label, ca, sha256 string
	confirmed         bool
	note              string
}

// defaultRootHashes is that list: the RPS fixture's hashes, then those only
// MeshCentral's samples add. It is never modified.
var defaultRootHashes = [...]rootHashRow{
	{"VeriSign Class 3 Primary CA-G1", "Class 3 Public Primary Certification Authority (1996, MD2)", "e7685634efacf69ace939a6b255b7b4fabef42935b50a265acb5cb6027e44e70", true, "removed from 11.8.65.3580 / 12.0.32.1420"},
	{"(VeriSign Class 3 Primary CA-G1.5)", "Class 3 Public Primary Certification Authority (SHA-1 re-signing)", "a4b6b3996fc2f306b3fd8681bd63413d8c5009cc4fa329c2ccf0e2fa1b140305", true, "label inferred"},
	{"VeriSign Class 3 Primary CA-G2", "Class 3 Public Primary Certification Authority - G2", "83ce3c1229688a593d485f81973c0f9195431eda37cc5e36430e79c7a888638b", true, ""},
	{"VeriSign Class 3 Primary CA-G3", "VeriSign Class 3 Public Primary Certification Authority - G3", "eb04cf5eb1f39afa762f2bb120f296cba520c1b97db1589565b81cb9a17b7244", true, ""},
	{"VeriSign Class 3 Primary CA-G5", "VeriSign Class 3 Public Primary Certification Authority - G5", "9acfab7e43c8d880d06b262a94deeee4b4659989c3d0caf19baf6405e41ab7df", true, ""},
	{"VeriSign Universal Root CA", "VeriSign Universal Root Certification Authority", "2399561127a57125de8cefea610ddf2fa078b5c8067f4e828290bfb860e84b3c", true, ""},
	{"Go Daddy Class 2 CA", "Go Daddy Class 2 Certification Authority", "c3846bf24b9e93ca64274c0ec67c1ecc5e024ffcacd2d74019350e81fe546ae4", true, ""},
	{"Go Daddy Root CA-G2", "Go Daddy Root Certificate Authority - G2", "45140b3247eb9cc8c5b4f0d7b53091f73292089e6e5a63e2749dd3aca9198eda", true, ""},
	{"Starfield Class 2 CA", "Starfield Class 2 Certification Authority", "1465fa205397b876faa6f0a9958e5590e40fcc7faa4fb7c2c8677521fb5fb658", true, ""},
	{"Starfield Root CA-G2", "Starfield Root Certificate Authority - G2", "2ce1cb0bf9d2f9e102993fbe215152c3b2dd0cabde1c68e5319b839154dbb7f5", true, ""},
	{"Comodo AAA CA", "AAA Certificate Services", "d7a7a0fb5d7e2731d771e9484ebcdef71d5f0c3e0a2948782bc83ee0ea699ef4", true, ""},
	{"Baltimore CyberTrust Root", "Baltimore CyberTrust Root", "16af57a9f676b0ab126095aa5ebadef22ab31119d644ac95cd4b93dbf3f26aeb", true, "expired 2025-05-12"},
	{"Cybertrust Global Root", "Cybertrust Global Root", "960adf0063e96356750c2965dd0a0867da0b9cbd6e77714aeafb2349ab393da3", true, "expired 2021-12-15"},
	{"GTE CyberTrust Global Root", "GTE CyberTrust Global Root", "a53125188d2110aa964b02c7b7c6da3203170894e5fb71fffb6667d5e6810a36", true, "expired 2018"},
	{"Verizon Global Root", "Verizon Global Root CA", "68ad50909b04363c605ef13581a939ff2c96372e3f12325b0a6861e1d59f6603", false, "identified by elimination; digest not verified"},
	{"Entrust.net CA (2048)", "Entrust.net Certification Authority (2048)", "6dc47172e01cbcb0bf62580d895fe2b8ac9ad4f873801e0c10b9c837d21eb177", true, ""},
	{"Entrust Root CA", "Entrust Root Certification Authority", "73c176434f1bc6d5adf45b0e76e727287c8de57616c1e6e6141a2b2cbc7d8e4c", true, "expires 2026-11-27"},
	{"(Entrust Root CA - G2)", "Entrust Root Certification Authority - G2", "43df5774b03e7fef5fe40d931a7bedf1bb2e6b42738c4e6d3841103d3aa7f339", true, "label inferred"},
	{"(AffirmTrust Premium)", "AffirmTrust Premium", "70a73f7f376b60074248904534b11482d5bf0e698ecc498df52577ebf2e93b9a", true, "label inferred"},
	{"DigiCert Global Root CA", "DigiCert Global Root CA", "4348a0e9444c78cb265e058d5e8944b4d84f9662bd26db257f8934a443c70161", true, ""},
	{"DigiCert Global Root G2", "DigiCert Global Root G2", "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f", true, ""},
	{"DigiCert Global Root G3", "DigiCert Global Root G3", "31ad6648f8104138c738f39ea4320133393e3a18cc02296ef97c2ac9ef6731d0", true, ""},
	{"DigiCert Trusted Root G4", "DigiCert Trusted Root G4", "552f7bdcf1a7af9e6ce672017f4f12abf77240c78e761ac203d1d9d20ac89988", true, ""},
	{"GlobalSign NP RSA CA 2018", "GlobalSign NP RSA CA 2018", "67540a47aa5b9f34570a99723cfefa96a96ee3f0d9b8bf4def9440b8065d665d", true, "not in public CA bundles; label from device output"},
	{"GlobalSign NP ECC CA 2018", "GlobalSign NP ECC CA 2018", "7224395222cd588c4f2683716922addb41e39b581ac34fa87b39efa896fbb39e", true, "not in public CA bundles; label from device output"},
	{"GlobalSign Root CA - R3", "GlobalSign Root CA - R3", "cbb522d7b7f127ad6a0113865bdf1cd4102e7d0759af635a7cf4720dc963c53b", true, ""},
	{"(GlobalSign ECC Root CA - R5)", "GlobalSign ECC Root CA - R5", "179fbc148a3dd00fd24ea13458cc43bfa7f59c8182d783a513f6ebec100c8924", true, "label inferred"},
	{"(GlobalSign Root CA - R6)", "GlobalSign Root CA - R6", "2cabeafe37d06ca22aba7391c0033d25982952c453647349763a3ab5ad6ccf69", true, "label inferred"},
	{"(unknown)", "unknown", "a267c480b0b29056eb5e8aa7c93add804f5a7df516e969e77bcacafe8d456079", false, "seen only in one newer device's hello; CA not identified"},
}
