#!/usr/bin/env python3
"""Independent setup.bin encoder used to build internal/testvectors/data/pskx_setupbin.json.

Written from a description of the layout (MeshCentral amt/amt-setupbin.js and the files Intel's
ACU writes; summarised in docs/pskx.md), not from the Go code: 512-byte header with
file-type GUID, chunk counts, version, flags, record counts, module list; records of
DataRecordChunkCount*512 bytes with a 24-byte header; entries module/var/len/reserved/value padded
to 4 bytes; +17 scrambling of everything after the record header; consumed records zeroed.

Run: python3 pskx/setupbin/testdata/gen_setupbin_vectors.py > internal/testvectors/data/pskx_setupbin.json
"""
import json, struct, hashlib, ipaddress

GUID = {  # canonical text form; written in EFI order (first three fields little-endian)
    1: "71FB16B5-CB87-4AF9-B441-CA7B383578F9",
    2: "5881B296-6BCF-4C72-8B91-A15E512E99C4",
    3: "C6F6F7A7-C489-47F6-93ED-E2E5020DA51D",
    4: "5234A9AA-29E1-44A9-8D4D-081C07B96353",
}

def efi_guid(text):
    p = text.split("-")
    return (struct.pack("<IHH", int(p[0], 16), int(p[1], 16), int(p[2], 16))
            + bytes.fromhex(p[3]) + bytes.fromhex(p[4]))

def encode(v):
    major, minor = (int(x) for x in v["version"].split("."))
    chunks = v["record_chunks"]
    recs = v["records"]
    mods = sorted({e["module"] for r in recs for e in r["entries"]})
    h = efi_guid(GUID[major])
    h += struct.pack("<HHIBBHIIHH", 1, 42 + 2 * len(mods), 0, major, minor, v["flags"],
                     len(recs), v["consumed"], chunks, 0)
    for m in mods:
        h += struct.pack("<H", m)
    h += b"\0" * (512 - len(h))
    out = h
    for i, r in enumerate(recs):
        size = chunks * 512
        rec = struct.pack("<IIIIHHI", 1, r["flags"], 0, 0, chunks, 24, r.get("number") or i + 1)
        body = b""
        for e in sorted(r["entries"], key=lambda e: (e["module"], e["var"])):
            val = bytes.fromhex(e["value"])
            body += struct.pack("<HHHH", e["module"], e["var"], len(val), 0) + val
            body += b"\0" * ((4 - len(val) % 4) % 4)
        assert len(body) <= size - 24
        body += b"\0" * (size - 24 - len(body))
        consumed_empty = not (r["flags"] & 1) and not r["entries"]
        if r["flags"] & 2 and not consumed_empty:
            body = bytes((b + 17) % 256 for b in body)
        out += rec + body
    return out

def s(t): return t.encode().hex()
def u8(n): return "%02x" % n
def u16(n): return struct.pack("<H", n).hex()
def u32(n): return struct.pack("<I", n).hex()
def ip(a): return bytes(reversed(ipaddress.ip_address(a).packed)).hex()
def e(m, v, val): return {"module": m, "var": v, "value": val}
def hashadd(alg, digest, name):
    return u8(alg) + digest.hex() + u8(len(name)) + s(name)

root = b"amtkit test root certificate (not a real certificate)"
vectors = [
    {"name": "v1.0 PSK batch, two scrambled records (Intel's example PID/PPS and a second pair)",
     "version": "1.0", "flags": 0, "consumed": 0, "record_chunks": 1,
     "records": [
        {"flags": 3, "entries": [e(1, 1, s("admin")), e(1, 2, s("P@ssw0rd1")),
                                 e(2, 1, s("0000037M")), e(2, 2, s("NKLDG5DCRRNQE9YZZIJL7LFLVJED69XJ"))]},
        {"flags": 3, "entries": [e(1, 1, s("admin")), e(1, 2, s("Secr3t!pw")),
                                 e(2, 1, s("ABCDEFG8")), e(2, 2, s("AAAFBBBICCCLDDDOEEERFFFUGGGXHHH0"))]}]},
    {"name": "v1.0, first record consumed (Valid cleared, body zeroed), second unscrambled",
     "version": "1.0", "flags": 0, "consumed": 1, "record_chunks": 1,
     "records": [
        {"flags": 2, "entries": []},
        {"flags": 1, "entries": [e(1, 1, s("admin")), e(1, 2, s("Secr3t!pw")),
                                 e(2, 1, s("ABCDEFG8")), e(2, 2, s("AAAFBBBICCCLDDDOEEERFFFUGGGXHHH0"))]}]},
    {"name": "v2.0 PKI settings, do-not-consume, unscrambled, entries given out of order",
     "version": "2.0", "flags": 1, "consumed": 0, "record_chunks": 1,
     "records": [
        {"flags": 1, "entries": [e(2, 10, u8(3)), e(2, 3, s("vpro.example.com")), e(1, 2, s("N3w-Mebx!")),
                                 e(1, 1, s("admin")), e(1, 3, u8(1)), e(2, 7, u8(1)),
                                 e(2, 8, hashadd(1, hashlib.sha1(root).digest(), "amtkit test root"))]}]},
    {"name": "v2.1 network settings, scrambled",
     "version": "2.1", "flags": 0, "consumed": 0, "record_chunks": 1,
     "records": [
        {"flags": 3, "entries": [e(1, 1, s("Old-Pa55!")), e(1, 2, s("N3w-Mebx!")), e(1, 6, efi_guid("46732273-DC23-2F43-A98A-13D37982D855").hex()),
                                 e(2, 11, s("pc-0042")), e(2, 12, s("corp.example.com")), e(2, 13, u8(1)),
                                 e(2, 15, u32(300)), e(2, 17, ip("192.168.1.10")), e(2, 18, u16(9971)),
                                 e(2, 19, ip("10.0.0.5") + ip("255.255.255.0") + ip("10.0.0.1") + ip("10.0.0.53") + ip("10.0.0.54"))]}]},
    {"name": "v3.0 bare-metal PKI start, SHA-256 hash, IPv6 server, consent, and an unknown variable 3/7",
     "version": "3.0", "flags": 1, "consumed": 0, "record_chunks": 1,
     "records": [
        {"flags": 1, "entries": [e(1, 1, s("admin")), e(1, 2, s("N3w-Mebx!")), e(2, 28, u8(1)),
                                 e(2, 3, s("example.org")), e(2, 8, hashadd(2, hashlib.sha256(root).digest(), "amtkit SHA-256 root")),
                                 e(2, 17, ip("2001:db8::10")), e(2, 18, u16(9971)), e(2, 25, u8(1)), e(2, 26, u8(0xff)),
                                 e(3, 7, "0102030405")]}]},
    {"name": "v4.0 two-chunk records: three SHA-384 hashes with 31-character names and a 256-character domain",
     "version": "4.0", "flags": 1, "consumed": 0, "record_chunks": 2,
     "records": [
        {"flags": 3, "entries": [e(1, 1, s("admin")), e(1, 2, s("N3w-Mebx!")), e(2, 12, s(("d" * 62 + ".") * 4 + "com")),
                                 e(2, 8, hashadd(3, hashlib.sha384(root + b"1").digest(), "A" * 31)),
                                 e(2, 8, hashadd(3, hashlib.sha384(root + b"2").digest(), "B" * 31)),
                                 e(2, 8, hashadd(3, hashlib.sha384(root + b"3").digest(), "C" * 31))]}]},
]
for v in vectors:
    v["file"] = encode(v).hex()
print(json.dumps({
    "source": "constructed by pskx/setupbin/testdata/gen_setupbin_vectors.py, an independent Python encoder written from "
              "the layout of Ylianst/MeshCentral amt/amt-setupbin.js and the files Intel's ACU writes "
              "(rgl/intel-amt-notes Setup-default.bin) (file header, record header, entries, +17 scrambling), "
              "with consumed records zeroed as amtkit models the BIOS (no public document states this); "
              "PID/PPS are Intel's example pair (pidppschecksum.htm) and a hand-checked second pair",
    "vectors": vectors}, indent=1))
