package tlspsk

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"testing"
)

// FuzzDecryptWithKnownKeys is a differential check of the CBC record opener (padding,
// MAC, the Lucky Thirteen path) against the RFC 5246 §6.2.3.2 rule, with a
// peer that knows the keys (a rogue device holding the pair) choosing every
// byte under the encryption: a record opens iff its tail is well-formed
// padding and the MAC over what precedes it verifies. No existing fuzz target
// reaches decrypt with a valid MAC.
func FuzzDecryptWithKnownKeys(f *testing.F) {
	f.Add(uint8(0), []byte("hello"), []byte{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10}, uint16(VersionTLS12))
	f.Add(uint8(1), []byte{}, []byte{255}, uint16(VersionTLS10))
	f.Add(uint8(3), bytes.Repeat([]byte{1}, 100), []byte{3, 3, 3, 3}, uint16(VersionTLS11))
	f.Fuzz(func(t *testing.T, suiteIdx uint8, data, tail []byte, vers uint16) {
		ids := DefaultCipherSuites()
		s := suiteByID(ids[int(suiteIdx)%len(ids)])
		vers = VersionTLS10 + vers%3
		if len(data) > 2000 || len(tail) > 600 {
			return
		}
		key := bytes.Repeat([]byte{7}, s.keyLen)
		macKey := bytes.Repeat([]byte{9}, s.macLen)
		iv := bytes.Repeat([]byte{5}, ivLen)
		// Sender side: plaintext = data ‖ MAC ‖ tail, tail padded with
		// extra arbitrary bytes at its front so the total is block-aligned.
		w := &halfConn{version: vers}
		w.mac = s.newMAC(macKey)
		var seq [8]byte
		body := append([]byte{}, data...)
		body = w.macInput(body, seq, recordApplicationData, data, nil)
		for (len(body)+len(tail))%aes.BlockSize != 0 {
			tail = append([]byte{0xAA}, tail...)
		}
		body = append(body, tail...)
		block, _ := aes.NewCipher(key)
		var payload []byte
		if vers >= VersionTLS11 {
			payload = append(append([]byte{}, iv...), body...)
			cipher.NewCBCEncrypter(block, iv).CryptBlocks(payload[ivLen:], payload[ivLen:])
		} else {
			payload = append([]byte{}, body...)
			cipher.NewCBCEncrypter(block, iv).CryptBlocks(payload, payload)
		}
		if len(payload) > maxCiphertext {
			return
		}
		record := append([]byte{byte(recordApplicationData), byte(vers >> 8), byte(vers), byte(len(payload) >> 8), byte(len(payload))}, payload...)

		// Expected: the tail is padding iff every byte equals len(tail)-1.
		padOK := len(tail) >= 1 && len(tail) <= 256
		for _, b := range tail {
			if int(b) != len(tail)-1 {
				padOK = false
			}
		}

		r := &halfConn{version: vers, isRead: true}
		if err := r.prepare(key, macKey, iv, s); err != nil {
			t.Fatal(err)
		}
		r.changeCipherSpec()
		got, err := r.decrypt(record)
		if padOK {
			if err != nil {
				t.Fatalf("well-formed record refused: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("opened to %d bytes, want %d", len(got), len(data))
			}
		} else if err == nil && !bytes.Equal(got, data) {
			// Accepting with a different split would need a MAC collision.
			t.Fatalf("malformed padding accepted with %d bytes", len(got))
		}
	})
}
