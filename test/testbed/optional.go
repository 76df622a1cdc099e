package testbed

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// optionalTool is a component that Build leaves out and builds only on
// demand (the KEDA operator, Karpenter): its own tools module and cache
// folder, so the testbed's cold build does not grow by its dependency graph,
// manifests copied out of its module beside the binary, so that a prebuilt
// folder is self-contained, and an environment variable that says whether
// the tests needing it run, skip, fail or build it first.
type optionalTool struct {
	module toolModule
	// what names it in messages ("the KEDA operator").
	what string
	// with is the testbed command's `build -with` value that builds it, and
	// makeTarget the make target that runs that command.
	with, makeTarget string
	// coldCost is what a cold build costs, measured, for the messages.
	coldCost string
	// env names the environment variable read by require.
	env string
	// configDir is the folder, beside the binary, that holds configFiles
	// (paths inside the upstream module, stored by base name).
	configDir   string
	configFiles []string
}

// The values of an optional tool's environment variable.
const (
	modeRequire = "require"
	modeOn      = "on"
	modeOff     = "off"
)

// build makes sure the tool is built and returns the folder that holds it.
// A folder named by PRESCALER_TESTBED_BIN that holds it is used as is;
// otherwise it is built into its own cache folder
// <CacheDir>/<short>-<version>_<go>_<hash>/bin, with the same file lock and
// atomic rename as Build.
func (o optionalTool) build(ctx context.Context, opts BuildOptions) (BuildInfo, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if dir := os.Getenv(BinEnv); dir != "" && o.check(dir) == nil {
		return BuildInfo{Dir: dir, Key: "(from " + BinEnv + ")"}, nil
	}
	info, toolsDir, err := planModules(ctx, opts, []toolModule{o.module})
	if err != nil {
		return BuildInfo{}, err
	}
	info.Built, err = installOnce(ctx, info.Dir, o.check, logf, func(tmp string) error {
		logf("testbed: building %s into %s (a cold build: %s)", o.what, info.Dir, o.coldCost)
		dir := filepath.Join(toolsDir, o.module.dir)
		if err := buildModule(ctx, dir, o.module, info.Versions[o.module.module], tmp, logf); err != nil {
			return err
		}
		if err := o.copyConfig(ctx, dir, filepath.Join(tmp, o.configDir)); err != nil {
			return err
		}
		return writeManifest(tmp, info)
	})
	if err != nil {
		return BuildInfo{}, err
	}
	return info, nil
}

// missing says what build would have to build: nil when the tool is there,
// else the folder it looked in and what that lacks.
func (o optionalTool) missing(ctx context.Context) error {
	if dir := os.Getenv(BinEnv); dir != "" && o.check(dir) == nil {
		return nil
	}
	info, _, err := planModules(ctx, BuildOptions{}, []toolModule{o.module})
	if err != nil {
		return err
	}
	if _, err := os.Stat(info.Dir); err != nil {
		return fmt.Errorf("no folder %s", info.Dir)
	}
	if err := o.check(info.Dir); err != nil {
		return fmt.Errorf("%s: %w", info.Dir, err)
	}
	return nil
}

// check reports what a bin folder of the tool lacks.
func (o optionalTool) check(dir string) error {
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(o.module.binaries)) {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	for _, f := range o.configFiles {
		if _, err := os.Stat(filepath.Join(dir, o.configDir, filepath.Base(f))); err != nil {
			missing = append(missing, o.configDir+"/"+filepath.Base(f))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// copyConfig copies configFiles out of the upstream module that the tools
// module in toolsModDir requires.
func (o optionalTool) copyConfig(ctx context.Context, toolsModDir, out string) error {
	modDir, err := moduleDir(ctx, toolsModDir, o.module.module)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, f := range o.configFiles {
		data, err := os.ReadFile(filepath.Join(modDir, filepath.FromSlash(f)))
		if err != nil {
			return fmt.Errorf("manifests of %s: %w", o.module.module, err)
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// require lets a test that needs the tool run, skips it or fails it, as the
// tool's environment variable says (see decide); "on" builds a missing tool
// here, under the test's own deadline. Call it before Start, so that a
// skipped test starts nothing.
func (o optionalTool) require(t testing.TB) {
	t.Helper()
	switch verdict, why := o.decide(os.Getenv(o.env), testing.Short(), func() error { return o.missing(t.Context()) }); verdict {
	case skipTest:
		t.Skip(why)
	case failTest:
		t.Fatal(why)
	case buildFirst:
		// Built here rather than when the testbed starts, whose context is
		// the test's few minutes for the cluster, far shorter than a cold
		// build.
		if _, err := o.build(t.Context(), BuildOptions{Logf: t.Logf}); err != nil {
			t.Fatalf("%s=%s: building %s: %v", o.env, modeOn, o.what, err)
		}
	}
}

// toolVerdict is what require does with a test.
type toolVerdict int

const (
	runTest toolVerdict = iota
	skipTest
	failTest
	// buildFirst: build the tool if it is missing, then run.
	buildFirst
)

// decide is require's decision, and why. mode is the environment
// variable's value; missing says what the tool's folder lacks (nil: it is
// built), and is asked only when the answer matters, since it runs the go
// command.
//
// Whether a test may skip is said by the environment, never guessed from
// the clock: where a make target builds the tool and sets the variable to
// require, a missing build fails however much time is left, while a plain
// `go test` without it skips with the command that builds it.
func (o optionalTool) decide(mode string, short bool, missing func() error) (toolVerdict, string) {
	build := fmt.Sprintf("run `make %s` (or `go run ./test/testbed/cmd/testbed build -with %s`)", o.makeTarget, o.with)
	switch mode {
	case "", modeRequire, modeOn, modeOff:
	default:
		return failTest, fmt.Sprintf("%s=%q: want %s, %s, %s or unset", o.env, mode, modeRequire, modeOn, modeOff)
	}
	if short {
		return skipTest, fmt.Sprintf("needs %s (not under -short)", o.what)
	}
	switch mode {
	case modeOff:
		return skipTest, fmt.Sprintf("%s=off: tests of %s are turned off", o.env, o.what)
	case modeOn:
		return buildFirst, ""
	}
	err := missing()
	if err == nil {
		return runTest, ""
	}
	if mode == modeRequire {
		return failTest, fmt.Sprintf("%s=%s, but %s is not built (%v): %s first", o.env, modeRequire, o.what, err, build)
	}
	return skipTest, fmt.Sprintf("%s is not built (%v): %s, or set %s=%s to build it here (%s the first time)",
		o.what, err, build, o.env, modeOn, o.coldCost)
}

// moduleDir returns the module cache folder of module as required by the
// tools module in dir, downloading it if needed (go list -m leaves Dir
// empty for a module not yet in the cache; go mod download fills it).
func moduleDir(ctx context.Context, dir, module string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	b, err := cmd.Output()
	var got struct{ Dir, Error string }
	if jsonErr := json.Unmarshal(b, &got); jsonErr == nil && got.Error != "" {
		return "", fmt.Errorf("downloading module %s: %s", module, got.Error)
	}
	if err != nil {
		return "", fmt.Errorf("downloading module %s: %w", module, err)
	}
	if got.Dir == "" {
		return "", fmt.Errorf("downloading module %s: go mod download printed no folder", module)
	}
	return got.Dir, nil
}
