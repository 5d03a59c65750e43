# Generator of internal/testvectors/data/pthi_*.json:
#   python3 gen_vectors.py ../../../internal/testvectors/data
# Written for amtkit from the layouts named in each vector.
# Independent generator for amtkit PTHI golden vectors: builds bytes from the
# layouts as described in the sources with Python's struct module.
import struct, json, hashlib, os, sys
OUT = sys.argv[1] if len(sys.argv) > 1 else '.'

def hdr(cmd, length): return struct.pack('<BBHII', 1, 1, 0, cmd, length)
def req(cmd, payload=b''): return hdr(cmd, len(payload)) + payload
def resp(cmd, status=0, payload=b''): return hdr(cmd | 0x800000, 4 + len(payload)) + struct.pack('<I', status) + payload
def h(b): return b.hex()

LMS = "intel/lms MEIClient/AMTHIClient (commit a62698b7, 2025-02-04)"
LMSOLD = "intel/lms MEIClient/AMTHIClient at commit 93f0236^ (2023, before the WMI Activate removal)"
RPC = "device-management-toolkit/rpc-go pkg/pthi (commit 596559d9, 2026-08-20)"
MA = "Ylianst/MeshAgent microlms/heci/PTHICommand.h and PTHICommand.c (Intel PTHI sample, 2004-2008)"
MC = "Ylianst/MeshCentral agents/modules_meshcore/amt-mei.js (commit 04392905)"

V = []
def add(name, cmd, layout, request, response, expect, args=None):
    v = {"name": name, "command": "0x%08X" % cmd, "layout": layout, "request": h(request), "response": h(response), "expect": expect}
    if args is not None: v["args"] = args
    V.append(v)

# GetCodeVersions
def ustr(s):
    b = s.encode(); assert len(b) <= 20
    return struct.pack('<H', len(b)) + b + b'\0' * (20 - len(b))
bios = b"SKLSE2R1.R00.X145.B00.1701300946"
entries = [("Flash", "16.1.25"), ("Netstack", "16.1.25"), ("AMTApps", "16.1.25"), ("AMT", "16.1.25"),
           ("Sku", "16392"), ("VendorID", "8086"), ("Build Number", "2052"), ("Recovery Version", "16.1.25"),
           ("Recovery Build Num", "2052"), ("Legacy Mode", "False")]
pay = bios + b'\0' * (65 - len(bios)) + struct.pack('<I', len(entries)) + b''.join(ustr(a) + ustr(b) for a, b in entries)
add("GetCodeVersions", 0x0400001A, LMS + " GetCodeVersionCommand.h: BIOS[65], u32 count, count x {AMT_UNICODE_STRING description, version} with AMT_UNICODE_STRING = u16 length + 20 bytes; count check from " + MA,
    req(0x0400001A), resp(0x0400001A, 0, pay),
    {"bios": bios.decode(), "versions": [[a, b] for a, b in entries], "amtVersion": "16.1.25.2052"})

# GetUUID
wire = bytes.fromhex("3ec2ffd2d19d2d41860a54b2039b72ff")
add("GetUUID", 0x0400005C, LMS + " GetUUIDCommand.h: 16 bytes; mixed-endian order per " + RPC + " (pkg/amt GetUUID) and " + MC + " getUuid",
    req(0x0400005C), resp(0x0400005C, 0, wire), {"uuid": "d2ffc23e-9dd1-412d-860a-54b2039b72ff"})

add("GetProvisioningState", 0x04000011, LMS + " GetProvisioningStateCommand.h: u32 (0 Pre, 1 In, 2 Post)",
    req(0x04000011), resp(0x04000011, 0, struct.pack('<I', 1)), {"state": 1})
add("GetControlMode", 0x0400006B, MA + " CFG_GET_CONTROL_MODE_RESPONSE and " + RPC + " GetControlModeResponse: u32 (0 none, 1 client, 2 admin)",
    req(0x0400006B), resp(0x0400006B, 0, struct.pack('<I', 2)), {"mode": 2})
add("GetProvisioningTLSMode", 0x0400002B, MA + " CFG_GET_PROVISIONING_TLS_MODE_RESPONSE; " + LMSOLD + " GetProvisioningTlsModeCommand.h: u32 (0 not ready, 1 PSK, 2 PKI)",
    req(0x0400002B), resp(0x0400002B, 0, struct.pack('<I', 2)), {"tlsMode": 2})
add("GetZeroTouchEnabled", 0x04000030, LMS + " GetZeroTouchEnabledCommand.h: AMT_BOOLEAN (u32)",
    req(0x04000030), resp(0x04000030, 0, struct.pack('<I', 1)), {"bool": True})
add("GetRNGSeedStatus", 0x0400002E, MA + " CFG_GET_RNG_SEED_STATUS_RESPONSE: u32 AMT_RNG_STATUS (0 exists, 1 in progress, 2 missing)",
    req(0x0400002E), resp(0x0400002E, 0, struct.pack('<I', 2)), {"rng": 2})
add("GenerateRNGSeed", 0x04000028, MA + " GENERATE_RNG_SEED_HEADER (no payload) and CFG_GENERATE_RNG_SEED_RESPONSE (status only)",
    req(0x04000028), resp(0x04000028), {})

handles = [0, 1, 2, 24, 32]
add("EnumerateHashHandles", 0x0400002C, LMS + " EnumerateHashHandlesCommand.h (parseSimpleArray32: u32 count + count x u32); exact size per " + MA + " _verifyHashHandles",
    req(0x0400002C), resp(0x0400002C, 0, struct.pack('<I', len(handles)) + b''.join(struct.pack('<I', x) for x in handles)), {"handles": handles})

dg = bytes.fromhex("CB3CCBB76031E5E0138F8DD39A23F9DE47FFC35E43C1144CEA27D46A5AB1CB5F")
name = b"DigiCert Global Root G2"
pay = struct.pack('<II', 1, 1) + dg + b'\0' * 32 + bytes([2]) + struct.pack('<H', len(name)) + name
add("GetCertHashEntry", 0x0400002D, RPC + " CertHashEntry: IsDefault u32, IsActive u32, CertificateHash[64], HashAlgorithm u8 (2 = SHA-256), Name = u16 length + bytes; request = u32 handle; exact size per " + MA + " _verifyGetCertificateHashEntry",
    req(0x0400002D, struct.pack('<I', 2)), resp(0x0400002D, 0, pay),
    {"entry": {"name": name.decode(), "alg": 2, "hash": dg.hex(), "default": True, "active": True}}, {"handle": 2})

sfx = b"vprodemo.com"
add("GetPKIDNSSuffix", 0x04000036, LMS + " GetDNSSuffixCommand.h: AmtAnsiString (u16 length + bytes); exact size per " + MA + " _verifyGetDnsSuffix",
    req(0x04000036), resp(0x04000036, 0, struct.pack('<H', len(sfx)) + sfx), {"suffix": sfx.decode()})
add("SetPKIDNSSuffix", 0x0400002F, LMSOLD + " SetDNSSuffixCommand.h: AmtAnsiString without NUL (nullTerminated=false): u16 length + bytes; response status only",
    req(0x0400002F, struct.pack('<H', len(sfx)) + sfx), resp(0x0400002F), {}, {"suffix": sfx.decode()})

otp = b"Ot9-xQ2#pL"
add("SetProvisioningServerOTP", 0x0400002A, LMSOLD + " SetProvisioningServerOTPCommand.h: AmtAnsiString with the default nullTerminated=true: u16 length (len+1) + OTP + NUL; 8-32 characters; response status only",
    req(0x0400002A, struct.pack('<H', len(otp) + 1) + otp + b'\0'), resp(0x0400002A), {}, {"otp": otp.decode()})
add("StartConfiguration", 0x04000029, MA + " START_CONFIGURATION_HEADER (no payload), CFG_START_CONFIGURATION_RESPONSE (status only); " + MC + " startConfiguration (0x29)",
    req(0x04000029), resp(0x04000029), {})
add("StartConfigurationEx", 0x04000062, LMSOLD + " StartConfigurationExCommand.h: IPv6Enable as AMT_BOOLEAN (u32); response status only",
    req(0x04000062, struct.pack('<I', 1)), resp(0x04000062), {}, {"ipv6": True})
add("StopConfiguration", 0x0400005E, LMSOLD + " StopConfigurationCommand.h (no payload, status only); " + RPC + " StopConfiguration",
    req(0x0400005E), resp(0x0400005E), {})

add("Unprovision", 0x04000010, RPC + " UnprovisionRequest (u32 mode, rpc-go sends 0) and UnprovisionResponse (u32 State after the status); " + LMS + " UnprovisionCommand.h (u32 CFG_PROVISIONING_MODE)",
    req(0x04000010, struct.pack('<I', 0)), resp(0x04000010, 0, struct.pack('<I', 0)), {"state": 0})
add("UnprovisionStatusOnly", 0x04000010, LMS + " UnprovisionCommand.h: Unprovision_RESPONSE parses no payload (status only)",
    req(0x04000010, struct.pack('<I', 0)), resp(0x04000010), {})

user = b"$$OsAdmin"; pw = b"Zx8#kLm2$Qw9!vBn"
pay = user + b'\0' * (33 - len(user)) + pw + b'\0' * (33 - len(pw)) + b'\0\0'
add("GetLocalSystemAccount", 0x04000067, LMS + " GetLocalSystemAccountCommand.h: request 40 reserved zero bytes; response user[33] + password[33], NUL-terminated; the 2 padding bytes (68-byte payload) are what " + MC + " getLocalSystemAccount requires",
    req(0x04000067, b'\0' * 40), resp(0x04000067, 0, pay), {"user": user.decode(), "password": pw.decode()})

mac = bytes.fromhex("001b21aabbcc")
pay = struct.pack('<III', 1, 0xC0A8010A, 1) + bytes([2, 1]) + mac
add("GetLANInterfaceSettings", 0x04000048, LMS + " GetLanInterfaceSettingsCommand.h LAN_SETTINGS: Enabled u32, Ipv4Address u32 (0x01020304 = 1.2.3.4), DhcpEnabled u32, DhcpIpMode u8 (1 active, 2 passive per " + MA + "), LinkStatus u8, MacAddress[6]; request u32 interface (0 wired, 1 wireless)",
    req(0x04000048, struct.pack('<I', 0)), resp(0x04000048, 0, pay),
    {"lan": {"enabled": True, "ipv4": "192.168.1.10", "dhcpEnabled": True, "dhcpMode": 2, "linkUp": True, "mac": "00:1b:21:aa:bb:cc"}}, {"interface": 0})

leaf = bytes(range(32))
reqpay = bytes([2]) + leaf + b'\0' * 32 + bytes([0]) + struct.pack('<I', 0) + b'\0' * 320
assert len(reqpay) == 390
amthash = hashlib.sha384(b"amtkit test AMT TLS certificate").digest()
add("StartConfigurationHBased", 0x0400008B, RPC + " StartConfigurationHBasedRequest (header length 390): ServerHashAlgorithm u8, ServerCertHash[64], HostVPNEnable u8, SuffixListLen u32, NetworkDNSSuffixList[320]; response HashAlgorithm u8 + AMTCertHash[64]. MeshCentral's different layout was not chosen (docs/pthi.md)",
    req(0x0400008B, reqpay), resp(0x0400008B, 0, bytes([3]) + amthash + b'\0' * 16),
    {"hashAlg": 3, "hash": amthash.hex()}, {"hashAlg": 2, "hash": leaf.hex()})

slist = b"corp.example\0example\0"
reqpay2 = bytes([3]) + amthash + b'\0' * 16 + bytes([1]) + struct.pack('<I', len(slist)) + slist + b'\0' * (320 - len(slist))
assert len(reqpay2) == 390
add("StartConfigurationHBasedSuffixes", 0x0400008B, RPC + " StartConfigurationHBasedRequest with HostVPN and a NUL-separated suffix list (SuffixListLen = bytes used); response as MeshCentral reads it (algorithm + 32-byte SHA-256 digest only). Unverified on hardware",
    req(0x0400008B, reqpay2), resp(0x0400008B, 0, bytes([2]) + leaf),
    {"hashAlg": 2, "hash": leaf.hex()}, {"hashAlg": 3, "hash": amthash.hex(), "hostVPN": True, "suffixes": ["corp.example", "example"]})

add("IsChangeToAMTEnabled", 0, "intel/lms MEIClient/ManageabilityClient MNGIsChangeToAMTEnabledCommand.h and ManageabiltiyCommand.cpp (watchdog client, header CMD 0x05, byte count 2, sub-command 0x51, version 0x10; answer = 1 flags byte); " + RPC + " IsChangeToAMTEnabled sends the same 4 bytes",
    bytes([0x05, 0x02, 0x51, 0x10]), bytes([0xC3]), {"flags": 0xC3, "tlsLocal": True, "amtEnabled": True, "allowed": True})

json.dump({"source": "PTHI request/response golden bytes built by hand from the documented layouts (each vector's layout field names its source) with Python's struct module, independently of amtkit's encoder; values (UUID, hashes, versions) are illustrative. Header: u8 major 1, u8 minor 1, u16 reserved 0, u32 command, u32 length of what follows; responses add u32 status and set bit 23 of the command (" + LMS + " AMTHICommand.h).",
           "vectors": V}, open(os.path.join(OUT, 'pthi_commands.json'), 'w'), indent=1)

add("SetAmtOperationalState", 0, RPC + " SetAmtOperationalState (watchdog client: CMD 0x05, byte count 3, sub-command 0x53, version 0x10, u8 enabled; answer = the 4-byte header and a u32 status)",
    bytes([0x05, 0x03, 0x53, 0x10, 0x01]), bytes([0x05, 0x06, 0x53, 0x10]) + struct.pack('<I', 0), {})

# What rpc-go tolerates on real devices (pkg/pthi/commands.go reads fixed
# structures with encoding/binary and ignores what follows; pkg/amt treats an
# AMT_BOOLEAN > 0 as true and an unknown hash algorithm as "UNKNOWN"): decoded,
# not refused (issue 16, divergence 8).
TOL = RPC + " and pkg/amt (GetCertificateHashes: IsActive > 0; InterpretHashAlgorithm: unknown -> UNKNOWN, no hash)"
add("GetZeroTouchEnabledBoolean2", 0x04000030, TOL + ": AMT_BOOLEAN 2 is true",
    req(0x04000030), resp(0x04000030, 0, struct.pack('<I', 2)), {"bool": True})
add("EnumerateHashHandlesTrailing", 0x0400002C, TOL + ": count 2 followed by 3 handles; the third is ignored",
    req(0x0400002C), resp(0x0400002C, 0, struct.pack('<IIII', 2, 0, 1, 2)), {"handles": [0, 1]})
add("GetCertHashEntryUnknownAlgorithm", 0x0400002D, TOL + ": hash algorithm 9 keeps the entry with no digest; IsActive 7 is true; a byte after the name is ignored",
    req(0x0400002D, struct.pack('<I', 0)), resp(0x0400002D, 0, struct.pack('<II', 0, 7) + b'\x11' * 64 + bytes([9]) + struct.pack('<H', 1) + b"a" + b'\0'),
    {"entry": {"name": "a", "alg": 9, "hash": "", "default": False, "active": True}}, {"handle": 0})
add("StopConfigurationTrailing", 0x0400005E, TOL + ": a byte after a status-only response is ignored",
    req(0x0400005E), resp(0x0400005E, 0, b'\0'), {})
hexhash = hashlib.sha256(b"amtkit ASCII-hex AMT certificate").hexdigest().encode()
assert len(hexhash) == 64
add("StartConfigurationHBasedHexHash", 0x0400008B, RPC.replace("pkg/pthi", "internal/certs/lmsTls.go decodeAMTCertHash") + ": \"Newer firmware can return ASCII hex (64 chars for SHA-256)\" in the 64-byte field",
    req(0x0400008B, reqpay), resp(0x0400008B, 0, bytes([2]) + hexhash),
    {"hashAlg": 2, "hash": hexhash.decode()}, {"hashAlg": 2, "hash": leaf.hex()})

# ---- errors
E = []
def adde(name, cmd, layout, request, response, status=0, kind="", args=None):
    v = {"name": name, "command": "0x%08X" % cmd, "layout": layout, "request": h(request), "response": h(response)}
    if status: v["status"] = status
    if kind: v["error"] = kind
    if args is not None: v["args"] = args
    E.append(v)
adde("StartConfiguration", 0x04000029, MA + ": StartConfiguration returns AMT_STATUS_CERTIFICATE_NOT_READY (49) while the certificate is made", req(0x04000029), resp(0x04000029, 49), status=49)
adde("StopConfiguration", 0x0400005E, MA + " pthi_StopConfiguration: AMT_STATUS_INVALID_AMT_MODE (3) when not In-provisioning", req(0x0400005E), resp(0x0400005E, 3), status=3)
adde("SetProvisioningServerOTP", 0x0400002A, "status-only failure (PT_STATUS_INVALID_PARAMETER 36)", req(0x0400002A, struct.pack('<H', 9) + b"abcdefgh\0"), resp(0x0400002A, 36), status=36, args={"otp": "abcdefgh"})
adde("GetUUID", 0x0400005C, "PT_STATUS_NOT_READY (2): management controller not initialized", req(0x0400005C), resp(0x0400005C, 2), status=2)
adde("GetLANInterfaceSettings", 0x04000048, "PT_STATUS_INTERFACE_DOES_NOT_EXIST (2501) for a missing wireless interface", req(0x04000048, struct.pack('<I', 1)), resp(0x04000048, 2501), status=2501, args={"interface": 1})
adde("GenerateRNGSeed", 0x04000028, MA + ": AMT_STATUS_RNG_GENERATION_IN_PROGRESS (47)", req(0x04000028), resp(0x04000028, 47), status=47)
adde("Unprovision", 0x04000010, RPC + " Unprovision: AMT_STATUS_INVALID_AMT_MODE (3) when a HECI unprovision is attempted on an ACM device", req(0x04000010, struct.pack('<I', 0)), resp(0x04000010, 3), status=3)
adde("SetAmtOperationalState", 0, RPC + " SetAmtOperationalState: a non-success status after the header (PT_STATUS_NOT_PERMITTED 16)", bytes([0x05, 0x03, 0x53, 0x10, 0x01]), bytes([0x05, 0x06, 0x53, 0x10]) + struct.pack('<I', 16), status=16)
# malformed
adde("Unprovision", 0x04000010, "a 2-byte state after the status", req(0x04000010, struct.pack('<I', 0)), resp(0x04000010, 0, b'\0\0'), kind="truncated")
adde("Unprovision", 0x04000010, "a provisioning state of 7", req(0x04000010, struct.pack('<I', 0)), resp(0x04000010, 0, struct.pack('<I', 7)), kind="value")
adde("SetAmtOperationalState", 0, "an answer for sub-command 0x51", bytes([0x05, 0x03, 0x53, 0x10, 0x01]), bytes([0x05, 0x06, 0x51, 0x10]) + struct.pack('<I', 0), kind="wrong-command")
good = resp(0x0400005C, 0, wire)
adde("GetUUID", 0x0400005C, "wrong command in response (GetProvisioningState response)", req(0x0400005C), resp(0x04000011, 0, wire), kind="wrong-command")
adde("GetUUID", 0x0400005C, "response code without bit 23 (a request echoed back)", req(0x0400005C), hdr(0x0400005C, 20) + struct.pack('<I', 0) + wire, kind="wrong-command")
adde("GetUUID", 0x0400005C, "header length one more than the bytes that follow", req(0x0400005C), hdr(0x0480005C, 21) + struct.pack('<I', 0) + wire, kind="length")
adde("GetUUID", 0x0400005C, "protocol version 2.0", req(0x0400005C), struct.pack('<BBHII', 2, 0, 0, 0x0480005C, 20) + struct.pack('<I', 0) + wire, kind="version")
adde("GetUUID", 0x0400005C, "reserved field non-zero", req(0x0400005C), struct.pack('<BBHII', 1, 1, 1, 0x0480005C, 20) + struct.pack('<I', 0) + wire, kind="version")
adde("GetUUID", 0x0400005C, "15-byte UUID", req(0x0400005C), resp(0x0400005C, 0, wire[:15]), kind="truncated")
adde("GetUUID", 0x0400005C, "header only, no status", req(0x0400005C), hdr(0x0480005C, 0), kind="truncated")
adde("GetProvisioningState", 0x04000011, "state 3 is outside 0-2", req(0x04000011), resp(0x04000011, 0, struct.pack('<I', 3)), kind="value")
adde("EnumerateHashHandles", 0x0400002C, "34 handles exceed CERT_HASH_MAX_NUMBER 33", req(0x0400002C), resp(0x0400002C, 0, struct.pack('<I', 34) + b'\0' * 136), kind="too-large")
adde("GetCertHashEntry", 0x0400002D, "name length 5 with 4 bytes", req(0x0400002D, struct.pack('<I', 0)), resp(0x0400002D, 0, struct.pack('<II', 0, 1) + b'\x11' * 64 + bytes([1]) + struct.pack('<H', 5) + b"abcd"), kind="truncated", args={"handle": 0})
adde("GetLocalSystemAccount", 0x04000067, "password field without NUL", req(0x04000067, b'\0' * 40), resp(0x04000067, 0, b"$$OsAdmin" + b'\0' * 24 + b'A' * 33), kind="value")
adde("GetLANInterfaceSettings", 0x04000048, "19-byte settings", req(0x04000048, struct.pack('<I', 0)), resp(0x04000048, 0, b'\0' * 19), kind="truncated", args={"interface": 0})
adde("StartConfigurationHBased", 0x0400008B, "SHA-1 algorithm in the response", req(0x0400008B, bytes([2]) + leaf + b'\0' * 32 + bytes([0]) + struct.pack('<I', 0) + b'\0' * 320), resp(0x0400008B, 0, bytes([1]) + b'\0' * 64), kind="value", args={"hashAlg": 2, "hash": leaf.hex()})
json.dump({"source": "PTHI failure statuses and malformed responses, built by hand with Python's struct module from the layouts named in pthi_commands.json; statuses are PT_STATUS codes (intel/lms StatusCodeDefinitions.h). status = the amt.Status the client must return; error = the decoding error kind.",
           "vectors": E}, open(os.path.join(OUT, 'pthi_errors.json'), 'w'), indent=1)

# MEI connect
M = [{"client": "AMTHI", "guid": "12f80028-b4b7-4b2d-aca8-46e0ff65814c", "wire": "2800f812b7b42d4baca846e0ff65814c",
      "layout": "intel/lms MEIClient/Include/HECI_if.h HECI_AMTHI_GUID {12F80028-B4B7-4B2D-ACA8-46E0FF65814C}; wire bytes = rpc-go pkg/heci/linux.go MEI_IAMTHIF"},
     {"client": "watchdog", "guid": "05b79a6f-4628-4d7f-899d-a91514cb32ab", "wire": "6f9ab70528467f4d899da91514cb32ab",
      "layout": "intel/lms HECI_WATCHDOG_GUID {05B79A6F-4628-4D7F-899D-A91514CB32AB}; wire bytes = rpc-go MEI_WDIF"}]
json.dump({"source": "MEI connect: IOCTL_MEI_CONNECT_CLIENT = _IOWR('H', 0x01, struct mei_connect_client_data) = 0xC0104801 (Linux include/uapi/linux/mei.h; the constant rpc-go pkg/heci/linux.go uses); the 16-byte union carries the client GUID in guid_t (little-endian) order in, and u32 max_msg_length, u8 protocol_version, u8 reserved[3] out (rpc-go pkg/heci/types.go MEIConnectClientData).",
           "vectors": M}, open(os.path.join(OUT, 'pthi_mei.json'), 'w'), indent=1)
print(len(V), len(E))
