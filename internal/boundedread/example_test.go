package boundedread_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/amtkit/amtkit/internal/boundedread"
)

// A file over the limit is refused before it is read.
func ExampleFile() {
	dir, _ := os.MkdirTemp("", "boundedread")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "prov.pfx")
	_ = os.WriteFile(path, make([]byte, 2048), 0o600)

	_, err := boundedread.File(path, 1024, "a provisioning bundle")
	fmt.Println(errors.Is(err, boundedread.ErrTooLarge))
	data, err := boundedread.File(path, 4096, "a provisioning bundle")
	fmt.Println(len(data), err)
	// Output:
	// true
	// 2048 <nil>
}
