package testbed

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// packageTrim leaves most of one upstream package out of a tool's build:
// the build uses a copy of the upstream module (a replace directive in a
// copy of the tools module's go.mod, passed as -modfile; the module cache
// is never written, and go build refuses overlays of it) in which every
// non-test file of the package but keep is deleted, and the one function
// that dispatches to the package (a switch over a type name whose cases
// each call one constructor) loses the cases whose constructor was in a
// deleted file; they fall through to the switch's default, which reports
// the type as unknown.
//
// KEDA is the case: its scalers package holds ~75 scalers, one file each,
// and through them the SDKs of every cloud and message broker; the
// testbed's ScaledObjects use the cron scaler only.
type packageTrim struct {
	// pkg is the package's folder inside the module, slash-separated.
	pkg string
	// keep are the package's non-test files that stay.
	keep []string
	// dispatchFile (slash-separated, inside the module) holds dispatchFunc,
	// the function whose switch is pruned.
	dispatchFile, dispatchFunc string
}

// trimmedCopy copies the module at modDir to dst and trims the copy.
func (p packageTrim) trimmedCopy(modDir, dst string) error {
	if err := copyTree(modDir, dst); err != nil {
		return fmt.Errorf("copying %s: %w", modDir, err)
	}
	pkgDir := filepath.Join(dst, filepath.FromSlash(p.pkg))
	entries, err := os.ReadDir(pkgDir)
	if err != nil {
		return fmt.Errorf("trimming %s: %w", p.pkg, err)
	}
	kept := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range p.keep {
		f, err := parser.ParseFile(fset, filepath.Join(pkgDir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("trimming %s: a file to keep: %w", p.pkg, err)
		}
		for _, n := range topLevelNames(f) {
			kept[n] = true
		}
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || slices.Contains(p.keep, name) {
			continue
		}
		if err := os.Remove(filepath.Join(pkgDir, name)); err != nil {
			return err
		}
	}
	dispatch := filepath.Join(dst, filepath.FromSlash(p.dispatchFile))
	pruned, err := p.pruneDispatch(dispatch, kept)
	if err != nil {
		return err
	}
	return os.WriteFile(dispatch, pruned, 0o644)
}

// copyTree copies the regular files and folders under src to dst, writable
// (module cache files are read-only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, b, 0o644)
		}
		return nil // links and the like: a module zip has none
	})
}

// pruneDispatch returns the source of file with dispatchFunc's switch
// cleared of every case that names, in the trimmed package, something no
// kept file defines, and with the imports only those cases used removed.
func (p packageTrim) pruneDispatch(file string, kept map[string]bool) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("trimming %s: %w", p.pkg, err)
	}
	pkgName := importName(f, p.pkg)
	if pkgName == "" {
		return nil, fmt.Errorf("trimming %s: %s does not import it", p.pkg, p.dispatchFile)
	}
	sw := findSwitch(f, p.dispatchFunc)
	if sw == nil {
		return nil, fmt.Errorf("trimming %s: no switch in %s's %s", p.pkg, p.dispatchFile, p.dispatchFunc)
	}
	before := len(sw.Body.List)
	sw.Body.List = slices.DeleteFunc(sw.Body.List, func(s ast.Stmt) bool {
		return namesMissing(s, pkgName, kept)
	})
	if len(sw.Body.List) == before {
		return nil, fmt.Errorf("trimming %s: no case of %s's switch was pruned; has the upstream file changed?", p.pkg, p.dispatchFunc)
	}
	dropUnusedImports(f)
	// Comments would be re-attached to whatever follows a removed case; the
	// file is only compiled, so none are kept.
	f.Comments = nil
	var b bytes.Buffer
	if err := format.Node(&b, fset, f); err != nil {
		return nil, fmt.Errorf("trimming %s: %w", p.pkg, err)
	}
	return b.Bytes(), nil
}

// topLevelNames lists the functions, types, variables and constants a file
// declares at package level (methods excluded).
func topLevelNames(f *ast.File) []string {
	var names []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				names = append(names, d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					names = append(names, s.Name.Name)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	return names
}

// importName is the name file uses for the package whose import path ends
// in pkg, or "" when it does not import it.
func importName(f *ast.File, pkg string) string {
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil || !strings.HasSuffix(p, "/"+pkg) {
			continue
		}
		if imp.Name != nil {
			return imp.Name.Name
		}
		return path.Base(p)
	}
	return ""
}

// findSwitch returns the first expression switch in the body of the
// package-level function name.
func findSwitch(f *ast.File, name string) *ast.SwitchStmt {
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || fn.Name.Name != name || fn.Body == nil {
			continue
		}
		var sw *ast.SwitchStmt
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if s, ok := n.(*ast.SwitchStmt); ok && sw == nil {
				sw = s
			}
			return sw == nil
		})
		return sw
	}
	return nil
}

// namesMissing says whether n refers to pkgName.X for an X not in kept.
func namesMissing(n ast.Node, pkgName string, kept map[string]bool) bool {
	missing := false
	ast.Inspect(n, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == pkgName && !kept[sel.Sel.Name] {
				missing = true
			}
		}
		return !missing
	})
	return missing
}

// dropUnusedImports removes the named or plain imports that no selector in
// the file uses any more (blank and dot imports stay).
func dropUnusedImports(f *ast.File) {
	used := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				used[id.Name] = true
			}
		}
		return true
	})
	unused := func(spec ast.Spec) bool {
		imp := spec.(*ast.ImportSpec)
		p, _ := strconv.Unquote(imp.Path.Value)
		name := path.Base(p)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		// A path like k8s.io/api/core/v1 has package name v1 only by
		// convention; such imports in the dispatch file are named.
		return name != "_" && name != "." && !used[name]
	}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT {
			g.Specs = slices.DeleteFunc(g.Specs, unused)
		}
	}
	f.Imports = slices.DeleteFunc(f.Imports, func(imp *ast.ImportSpec) bool { return unused(imp) })
}

// trimFlags prepares m's trimmed build, if m trims a package: a trimmed
// copy of the upstream module and a copy of the tools module's go.mod and
// go.sum that replaces the module with it, in a new temporary folder. It
// returns go build's flags for it and a function that removes the folder;
// no flags when m trims nothing.
func trimFlags(ctx context.Context, toolsModDir string, m toolModule) (flags []string, cleanup func(), err error) {
	cleanup = func() {}
	if m.trim == nil {
		return nil, cleanup, nil
	}
	modDir, err := moduleDir(ctx, toolsModDir, m.module)
	if err != nil {
		return nil, cleanup, err
	}
	dir, err := os.MkdirTemp("", "prescaler-trim-")
	if err != nil {
		return nil, cleanup, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	if err := prepareTrim(ctx, toolsModDir, modDir, dir, m); err != nil {
		cleanup()
		return nil, func() {}, err
	}
	return []string{"-modfile", filepath.Join(dir, "go.mod")}, cleanup, nil
}

func prepareTrim(ctx context.Context, toolsModDir, modDir, dir string, m toolModule) error {
	src := filepath.Join(dir, "src")
	if err := m.trim.trimmedCopy(modDir, src); err != nil {
		return err
	}
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(toolsModDir, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "edit", "-modfile", filepath.Join(dir, "go.mod"), "-replace", m.module+"="+src)
	cmd.Dir = toolsModDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go mod edit -replace %s: %w\n%s", m.module, err, out)
	}
	return nil
}
