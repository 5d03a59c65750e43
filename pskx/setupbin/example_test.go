package setupbin_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/amtkit/amtkit/amt"
	"github.com/amtkit/amtkit/pskx"
	"github.com/amtkit/amtkit/pskx/setupbin"
)

// Build a PSK batch stick: one consumable record per device.
func ExampleNewPSKBatchFile() {
	pps, _ := pskx.ParsePPS("NKLD-G5DC-RRNQ-E9YZ-ZIJL-7LFL-VJED-69XJ")
	pairs := []pskx.Pair{{PID: pskx.MustParsePID("0000-037M"), PPS: pps, MEBxPassword: amt.NewSecret("P@ssw0rd1")}}
	f, err := setupbin.NewPSKBatchFile(pairs, setupbin.PSKBatchOptions{})
	if err != nil {
		panic(err)
	}
	b, err := f.MarshalBinary()
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Version, len(b), "bytes,", len(f.Records), "record, consumable:", f.Consumable())
	for _, e := range f.Records[0].Entries {
		fmt.Println(e)
	}
	// PID/PPS mean nothing to AMT 11 and later.
	for _, fd := range f.Check(setupbin.CheckOptions{Target: amt.MustParseVersion("11.8")}) {
		fmt.Println(fd.Code)
	}
	// Output:
	// 1.0 1024 bytes, 1 record, consumable: true
	// current MEBx password (1/1) = [REDACTED]
	// new MEBx password (1/2) = [REDACTED]
	// PID (2/1) = "0000037M"
	// PPS (2/2) = [REDACTED]
	// psk-removed
}

// Pre-configure PKI devices: one shared (do-not-consume) record.
func ExampleNewPKIPreconfigFile() {
	f, err := setupbin.NewPKIPreconfigFile(setupbin.PKIOptions{
		NewMEBxPassword: amt.NewSecret("N3w-Mebx!"),
		DNSSuffix:       "vpro.example.com",
		ServerAddress:   netip.MustParseAddr("192.0.2.10"),
		ServerPort:      9971,
		Start:           true,
	})
	if err != nil {
		panic(err)
	}
	b, _ := f.MarshalBinary()
	g, err := setupbin.Decode(b)
	if err != nil {
		panic(err)
	}
	fmt.Println(g.Version, "flags", g.Flags, "scrambled:", g.Records[0].Scrambled())
	for _, e := range g.Records[0].Entries {
		fmt.Println(e)
	}
	// Output:
	// 4.0 flags 1 scrambled: true
	// current MEBx password (1/1) = [REDACTED]
	// new MEBx password (1/2) = [REDACTED]
	// manageability feature selection (1/3) = 1 (Intel AMT)
	// PKI DNS suffix (2/3) = "vpro.example.com"
	// provisioning server address (2/17) = 192.0.2.10
	// provisioning server port (2/18) = 9971
	// provisioning halt/activate (2/28) = 1 (start)
}

func ExampleDecode() {
	// A file with the wrong size is refused with the record and offset.
	_, err := setupbin.Decode(make([]byte, 700))
	fmt.Println(err)
	var de *setupbin.DecodeError
	fmt.Println(errors.As(err, &de), de.Record, de.Offset, errors.Is(err, setupbin.ErrFileType))
	// Output:
	// setupbin: file header at offset 0: unknown setup.bin file type GUID: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
	// true 0 0 true
}

// A file another tool wrote with a non-zero reserved field, which the
// firmware ignores: Decode refuses it, DecodeLenient reads it and says so.
func ExampleDecodeLenient() {
	r := &setupbin.DataRecord{Flags: setupbin.RecordValid}
	_ = r.SetCurrentMEBxPassword(amt.NewSecret("admin"))
	_ = r.SetNewMEBxPassword(amt.NewSecret("N3w-Mebx!"))
	raw, err := (&setupbin.File{Version: setupbin.FileVersion40, Records: []*setupbin.DataRecord{r}}).MarshalBinary()
	if err != nil {
		panic(err)
	}
	raw[512+24+6] = 1 // the first entry's reserved field
	_, err = setupbin.Decode(raw)
	fmt.Println(errors.Is(err, setupbin.ErrEntry))
	f, tolerated, err := setupbin.DecodeLenient(raw)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(f.Records[0].Entries), "entries")
	for _, x := range tolerated {
		fmt.Println(x)
	}
	// Output:
	// true
	// 2 entries
	// warning layout-tolerated: record 1, current MEBx password (1/1): reserved field must be 0, got 1 (offset 542; the firmware does not read or check it)
}
