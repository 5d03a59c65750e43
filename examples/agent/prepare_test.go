package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amtkit/amtkit/amt"
)

// -prepare on a machine without an MEI device prepared nothing: it must not
// report success (exit 0) to the script that hands the request to the console,
// as -enable-amt, -deactivate and -recover do not.
func TestPrepareWithoutMEIFails(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), &out, options{
		device: filepath.Join(t.TempDir(), "mei0"), prepare: true, json: true, otp: amt.NewSecret("Ot9-xQ2#pL"),
	})
	t.Log(out.String())
	assert.Error(t, err, "nothing was prepared")
}
