package testbed

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writeFakeModule writes a module with a package of three "scalers" (two
// kept, one not, the one left out importing strings) and a dispatcher that
// switches over them.
func writeFakeModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/fake\n\ngo 1.22\n",
		"pkg/things/shared.go": `package things

type Thing interface{ Name() string }
`,
		"pkg/things/a.go": `package things

type a struct{}

func (a) Name() string { return "a" }

func NewA() Thing { return a{} }
`,
		"pkg/things/b.go": `package things

import "strings"

type b struct{}

func (b) Name() string { return strings.ToUpper("b") }

func NewB() Thing { return b{} }
`,
		"pkg/things/b_test.go": `package things
`,
		"pkg/use/dispatch.go": `package use

import (
	"fmt"
	"strings"

	"example.com/fake/pkg/things"
)

// Build makes a thing by name.
func Build(kind string) (things.Thing, error) {
	switch strings.TrimSpace(kind) {
	case "a":
		return things.NewA(), nil
	case "b":
		// the left-out one
		return things.NewB(), nil
	default:
		return nil, fmt.Errorf("no thing of type %s", kind)
	}
}
`,
	}
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var fakeTrim = packageTrim{
	pkg:          "pkg/things",
	keep:         []string{"shared.go", "a.go"},
	dispatchFile: "pkg/use/dispatch.go",
	dispatchFunc: "Build",
}

func TestTrimmedCopyLeavesOutThePackageFilesAndTheirCases(t *testing.T) {
	src := writeFakeModule(t)
	dst := filepath.Join(t.TempDir(), "copy")
	if err := fakeTrim.trimmedCopy(src, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "pkg/things/b.go")); !os.IsNotExist(err) {
		t.Errorf("b.go is still in the copy (stat: %v)", err)
	}
	for _, kept := range []string{"pkg/things/a.go", "pkg/things/shared.go", "pkg/things/b_test.go"} {
		if _, err := os.Stat(filepath.Join(dst, kept)); err != nil {
			t.Errorf("%s: %v", kept, err)
		}
	}
	if _, err := os.Stat(filepath.Join(src, "pkg/things/b.go")); err != nil {
		t.Errorf("the source module was changed: %v", err)
	}
	dispatch, err := os.ReadFile(filepath.Join(dst, "pkg/use/dispatch.go"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(dispatch)
	if strings.Contains(text, `case "b"`) || !strings.Contains(text, `case "a"`) || !strings.Contains(text, "default:") {
		t.Errorf("the pruned dispatcher:\n%s", text)
	}
	// The copy must still compile: the strings import stays (the switch's
	// tag uses it), fmt stays (default uses it).
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = dst
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the trimmed copy does not build: %v\n%s\n%s", err, out, text)
	}
}

func TestTrimDropsImportsOnlyThePrunedCasesUsed(t *testing.T) {
	src := writeFakeModule(t)
	p := filepath.Join(src, "pkg/use/dispatch.go")
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	text := `package use

import (
	"fmt"
	"strings"

	"example.com/fake/pkg/things"
)

func Build(kind string) (things.Thing, error) {
	switch kind {
	case "a":
		return things.NewA(), nil
	case "b":
		_ = strings.ToUpper(kind)
		return things.NewB(), nil
	}
	return nil, fmt.Errorf("no thing of type %s", kind)
}
`
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	if err := fakeTrim.trimmedCopy(src, dst); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = dst
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the trimmed copy does not build: %v\n%s", err, out)
	}
}

func TestTrimNamesWhatItCannotFind(t *testing.T) {
	src := writeFakeModule(t)
	for _, tc := range []struct {
		name string
		trim packageTrim
		want string
	}{
		{"a kept file is missing", packageTrim{pkg: "pkg/things", keep: []string{"shared.go", "gone.go"},
			dispatchFile: "pkg/use/dispatch.go", dispatchFunc: "Build"}, "gone.go"},
		{"no such function", packageTrim{pkg: "pkg/things", keep: []string{"shared.go", "a.go"},
			dispatchFile: "pkg/use/dispatch.go", dispatchFunc: "Make"}, "no switch"},
		{"nothing to prune", packageTrim{pkg: "pkg/things", keep: []string{"shared.go", "a.go", "b.go"},
			dispatchFile: "pkg/use/dispatch.go", dispatchFunc: "Build"}, "no case"},
	} {
		err := tc.trim.trimmedCopy(src, filepath.Join(t.TempDir(), "copy"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}
