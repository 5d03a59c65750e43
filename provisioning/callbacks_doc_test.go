package provisioning_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The callbacks a Maintainer run calls from Concurrency goroutines at once
// (maintain.go devicePool) say so, as Observer's documentation does ("from
// many at once, so it must be safe for concurrent use"). An Issuer (or a
// revocation check, a dialer, a clock) written for one caller at a time was
// correct with the serial Maintainer and broke silently.
func TestConcurrentCallbacksDocumented(t *testing.T) {
	fset := token.NewFileSet()
	docs := map[string]string{}
	for _, file := range []string{"config.go", "issuer.go", "event.go"} {
		f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			if gd := typeDoc(f, ts); gd != "" {
				docs[ts.Name.Name] = gd
			}
			if st, ok := ts.Type.(*ast.StructType); ok && ts.Name.Name == "Config" {
				for _, fl := range st.Fields.List {
					for _, nm := range fl.Names {
						docs["Config."+nm.Name] = fl.Doc.Text()
					}
				}
			}
			return true
		})
	}
	require.Contains(t, docs["Observer"], "concurrent use", "the reference: Observer says it")
	for _, name := range []string{"Issuer", "Config.Issuer", "Config.CheckRevocation", "Config.ClientCertificate", "Config.Dial", "Config.DeviceAddress", "Config.Now", "Config.Sleep", "Config.Rand"} {
		d := docs[name] + docs[strings.TrimPrefix(name, "Config.")]
		assert.True(t, strings.Contains(d, "concurrent"),
			"%s does not say it is called from several goroutines at once:\n%s", name, docs[name])
	}
}

func typeDoc(f *ast.File, ts *ast.TypeSpec) string {
	if ts.Doc != nil {
		return ts.Doc.Text()
	}
	for _, d := range f.Decls {
		if gd, ok := d.(*ast.GenDecl); ok && len(gd.Specs) == 1 && gd.Specs[0] == ts {
			return gd.Doc.Text()
		}
	}
	return ""
}
