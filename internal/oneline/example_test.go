package oneline_test

import (
	"fmt"

	"github.com/amtkit/amtkit/internal/oneline"
)

func ExampleEscape() {
	// An MPS address a hostile device reported, with a forged log line.
	fmt.Println("MPS " + oneline.Escape("mps.contoso.com\nlevel=INFO msg=\"tunnel up\""))
	// Output: MPS mps.contoso.com\nlevel=INFO msg="tunnel up"
}
