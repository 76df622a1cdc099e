package testbed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// BinEnv names the environment variable that points at a folder of prebuilt
// binaries (the layout that Build writes). When it is set, nothing is built.
const BinEnv = "PRESCALER_TESTBED_BIN"

// buildRecipe is part of the cache key: bump it whenever the way the binaries
// are built or laid out changes what the tests see, so that stale caches are
// not reused. Building Prometheus without its service discovery plugins
// did not bump it: a cached Prometheus with them runs the testbed's static
// scrape configs the same, and every cache (the tests', CI's) stays valid.
const buildRecipe = "3"

// toolModule is one tools module under test/tools: a go.mod that pins one
// upstream project, so that projects with clashing dependency graphs (each
// of kubernetes, etcd, kwok and prometheus pins its own k8s.io libraries)
// never share a module graph with each other or with prescaler.
type toolModule struct {
	dir      string            // folder under test/tools
	module   string            // the upstream module that go.mod requires
	short    string            // name in the cache key
	binaries map[string]string // binary name -> main package
	ldflags  func(version string) string
	// tags are build tags that leave out what the testbed never uses.
	tags string
	// trim, if set, leaves most of one package out of the build (see
	// packageTrim), where the project has no build tag for it.
	trim *packageTrim
}

var toolModules = []toolModule{
	{
		dir: "etcd", module: "go.etcd.io/etcd/server/v3", short: "etcd",
		// The etcd server's main package is the module root, so the binary
		// must be named explicitly (go build would call it "v3").
		binaries: map[string]string{"etcd": "go.etcd.io/etcd/server/v3"},
	},
	{
		dir: "kwok", module: "sigs.k8s.io/kwok", short: "kwok",
		binaries: map[string]string{"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
		ldflags: func(v string) string {
			return "-X sigs.k8s.io/kwok/pkg/consts.Version=" + v
		},
	},
	{
		dir: "prometheus", module: "github.com/prometheus/prometheus", short: "prom",
		binaries: map[string]string{
			"prometheus": "github.com/prometheus/prometheus/cmd/prometheus",
			"promtool":   "github.com/prometheus/prometheus/cmd/promtool",
		},
		// The testbed scrapes static targets only: leaving out every service
		// discovery plugin (the cloud SDKs, client-go) leaves 1.9 million
		// lines of Go to compile instead of 4.2 million.
		tags: "remove_all_sd",
	},
	{
		dir: "kube", module: "k8s.io/kubernetes", short: "k8s",
		binaries: map[string]string{
			"kube-apiserver":          "k8s.io/kubernetes/cmd/kube-apiserver",
			"kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
			"kube-scheduler":          "k8s.io/kubernetes/cmd/kube-scheduler",
			// Not a control plane component: docs/install.md's steps run it.
			"kubectl": "k8s.io/kubernetes/cmd/kubectl",
		},
		// Without these the components report v0.0.0-master, which clients
		// that check the server version would misread.
		ldflags: func(v string) string {
			major, minor, _ := strings.Cut(strings.TrimPrefix(v, "v"), ".")
			minor, _, _ = strings.Cut(minor, ".")
			var b strings.Builder
			for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
				fmt.Fprintf(&b, " -X %s.gitVersion=%s -X %s.gitMajor=%s -X %s.gitMinor=%s -X %s.gitTreeState=clean",
					pkg, v, pkg, major, pkg, minor, pkg)
			}
			return strings.TrimSpace(b.String())
		},
	},
	{
		// Not part of the control plane: deploy/'s tests lint and render the
		// Helm chart with it (about 4 CPU-minutes cold).
		dir: "helm", module: "helm.sh/helm/v4", short: "helm",
		binaries: map[string]string{"helm": "helm.sh/helm/v4/cmd/helm"},
		// helm version prints this; unset it reads v4.
		ldflags: func(v string) string {
			return "-X helm.sh/helm/v4/internal/version.version=" + v
		},
	},
}

// kwokStageDirs are the stage folders shipped in the kwok module (under
// kustomize/stage) that the testbed runs kwok with: nodes become Ready at
// once and then heartbeat (without heartbeats the node lifecycle controller
// marks them NotReady), and pods become Running and Ready as soon as they are
// bound, and go away when deleted.
var kwokStageDirs = []string{"node/fast", "node/heartbeat", "pod/fast"}

// kwokStagesDir is the folder inside a bin folder that holds the stage files.
const kwokStagesDir = "kwok-stages"

// binaryNames lists every binary a bin folder must hold.
func binaryNames() []string {
	var names []string
	for _, m := range toolModules {
		for name := range m.binaries {
			names = append(names, name)
		}
	}
	return names
}

// BuildInfo describes a bin folder: where it is and what it was built from.
type BuildInfo struct {
	// Dir holds the binaries and the kwok-stages folder.
	Dir string `json:"-"`
	// Key names the cache folder: every tool version, the Go version and a
	// hash of the tools modules' go.mod and go.sum files.
	Key string `json:"key"`
	// Versions maps each upstream module to its version.
	Versions map[string]string `json:"versions"`
	// GoVersion is the toolchain that built the binaries.
	GoVersion string `json:"goVersion"`
	// Built says whether this call built anything (false on a cache hit).
	Built bool `json:"-"`
}

// BuildOptions configures Build.
type BuildOptions struct {
	// CacheDir is the cache root; default: os.UserCacheDir()/prescaler
	// ($HOME/.cache/prescaler on Linux).
	CacheDir string
	// ToolsDir is the repository's test/tools folder; default: found by
	// walking up from the working directory, then from this source file.
	ToolsDir string
	// Logf receives progress lines; default: discard.
	Logf func(format string, args ...any)
}

// Build makes sure every testbed binary is built and returns the folder that
// holds them. With PRESCALER_TESTBED_BIN set it only checks that folder.
// Otherwise it builds into the cache folder
// <CacheDir>/<key>/bin, once: a file lock serialises concurrent callers
// (parallel test packages), and the folder appears atomically when complete.
func Build(ctx context.Context, opts BuildOptions) (BuildInfo, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if dir := os.Getenv(BinEnv); dir != "" {
		if err := checkBinDir(dir); err != nil {
			return BuildInfo{}, fmt.Errorf("%s=%s: %w", BinEnv, dir, err)
		}
		info := BuildInfo{Dir: dir, Key: "(from " + BinEnv + ")"}
		if b, err := os.ReadFile(filepath.Join(dir, "BUILDINFO.json")); err == nil {
			_ = json.Unmarshal(b, &info)
		}
		return info, nil
	}
	info, toolsDir, err := planBuild(ctx, opts)
	if err != nil {
		return BuildInfo{}, err
	}
	info.Built, err = installOnce(ctx, info.Dir, checkBinDir, logf, func(tmp string) error {
		logf("testbed: building binaries into %s (a cold build takes 20-25 minutes on 2 cores; set %s to use prebuilt ones)", info.Dir, BinEnv)
		for _, m := range toolModules {
			if err := buildModule(ctx, filepath.Join(toolsDir, m.dir), m, info.Versions[m.module], tmp, logf); err != nil {
				return err
			}
		}
		if err := copyKwokStages(ctx, filepath.Join(toolsDir, "kwok"), filepath.Join(tmp, kwokStagesDir)); err != nil {
			return err
		}
		return writeManifest(tmp, info)
	})
	if err != nil {
		return BuildInfo{}, err
	}
	return info, nil
}

func writeManifest(dir string, info BuildInfo) error {
	manifest, _ := json.MarshalIndent(info, "", "  ")
	return os.WriteFile(filepath.Join(dir, "BUILDINFO.json"), append(manifest, '\n'), 0o644)
}

// installOnce makes sure binDir exists and passes check. If it does not, it
// takes a file lock beside binDir (serialising concurrent callers such as
// parallel test packages), runs fill on a temporary folder and renames that
// into place, so binDir appears atomically when complete. built reports
// whether this call filled it.
func installOnce(ctx context.Context, binDir string, check func(string) error, logf func(string, ...any), fill func(tmp string) error) (built bool, err error) {
	if check(binDir) == nil {
		return false, nil
	}
	keyDir := filepath.Dir(binDir)
	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		return false, err
	}
	unlock, err := lockFile(ctx, keyDir+".lock", logf)
	if err != nil {
		return false, err
	}
	defer unlock()
	if check(binDir) == nil { // built by whoever held the lock
		return false, nil
	}
	// Leftovers of an interrupted build (we hold the lock, so none is live).
	if old, _ := filepath.Glob(filepath.Join(keyDir, filepath.Base(binDir)+".tmp-*")); len(old) > 0 {
		for _, d := range old {
			_ = os.RemoveAll(d)
		}
	}
	_ = os.RemoveAll(binDir) // an incomplete folder from an older recipe

	tmp, err := os.MkdirTemp(keyDir, filepath.Base(binDir)+".tmp-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	if err := fill(tmp); err != nil {
		return false, err
	}
	if err := check(tmp); err != nil {
		return false, fmt.Errorf("build finished but the folder is incomplete: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp made it 0700
		return false, err
	}
	if err := os.Rename(tmp, binDir); err != nil {
		return false, err
	}
	logf("testbed: all binaries built in %s", time.Since(start).Round(time.Second))
	return true, nil
}

// planBuild finds the tools modules and computes the cache key and folder
// of the testbed's binaries.
func planBuild(ctx context.Context, opts BuildOptions) (BuildInfo, string, error) {
	return planModules(ctx, opts, toolModules)
}

// planModules computes the cache key and folder of the binaries of mods.
func planModules(ctx context.Context, opts BuildOptions, mods []toolModule) (BuildInfo, string, error) {
	toolsDir := opts.ToolsDir
	if toolsDir == "" {
		var err error
		if toolsDir, err = findToolsDir(); err != nil {
			return BuildInfo{}, "", err
		}
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return BuildInfo{}, "", fmt.Errorf("no cache folder (set HOME or %s): %w", BinEnv, err)
		}
		cacheDir = filepath.Join(base, "prescaler")
	}
	goVersion, err := goEnv(ctx, "GOVERSION")
	if err != nil {
		return BuildInfo{}, "", err
	}
	goos, _ := goEnv(ctx, "GOOS")
	goarch, _ := goEnv(ctx, "GOARCH")

	info := BuildInfo{Versions: map[string]string{}, GoVersion: goVersion}
	h := sha256.New()
	fmt.Fprintf(h, "recipe %s\ngo %s %s/%s\n", buildRecipe, goVersion, goos, goarch)
	var parts []string
	for _, m := range mods {
		gomod, err := os.ReadFile(filepath.Join(toolsDir, m.dir, "go.mod"))
		if err != nil {
			return BuildInfo{}, "", fmt.Errorf("tools module %s: %w", m.dir, err)
		}
		gosum, err := os.ReadFile(filepath.Join(toolsDir, m.dir, "go.sum"))
		if err != nil {
			return BuildInfo{}, "", fmt.Errorf("tools module %s: %w", m.dir, err)
		}
		v, err := requiredVersion(gomod, m.module)
		if err != nil {
			return BuildInfo{}, "", fmt.Errorf("tools module %s: %w", m.dir, err)
		}
		info.Versions[m.module] = v
		parts = append(parts, m.short+"-"+strings.TrimPrefix(v, "v"))
		fmt.Fprintf(h, "%s\n%s\n%s\n", m.dir, gomod, gosum)
	}
	info.Key = strings.Join(parts, "_") + "_" + goVersion + "_" + hex.EncodeToString(h.Sum(nil))[:10]
	info.Dir = filepath.Join(cacheDir, info.Key, "bin")
	return info, toolsDir, nil
}

// requiredVersion returns the version of module required by a go.mod file
// (single-line or block form).
func requiredVersion(gomod []byte, module string) (string, error) {
	for line := range strings.SplitSeq(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "require" {
			f = f[1:]
		}
		if len(f) >= 2 && f[0] == module {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("go.mod does not require %s", module)
}

func goEnv(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w (the testbed builds its binaries with the go command; set %s to use prebuilt ones)", name, err, BinEnv)
	}
	return strings.TrimSpace(string(out)), nil
}

// findToolsDir locates test/tools: from the working directory upwards (go
// test runs in the package folder, go run in the caller's), then relative to
// this source file.
func findToolsDir() (string, error) {
	rel := filepath.Join("test", "tools", "kube", "go.mod")
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, rel)); err == nil {
				return filepath.Join(d, "test", "tools"), nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Join(filepath.Dir(file), "..", "tools")
		if _, err := os.Stat(filepath.Join(d, "kube", "go.mod")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("cannot find test/tools/*/go.mod from the working directory; run inside the prescaler repository or set %s", BinEnv)
}

// buildModule builds a tools module's binaries into out. Binaries named after
// their package are built by one go build (parallel compile and link).
func buildModule(ctx context.Context, dir string, m toolModule, version, out string, logf func(string, ...any)) error {
	ldflags := "-s -w"
	if m.ldflags != nil {
		ldflags += " " + m.ldflags(version)
	}
	var group, names []string
	var single [][2]string
	for name, pkg := range m.binaries {
		names = append(names, name)
		if path.Base(pkg) == name {
			group = append(group, pkg)
		} else {
			single = append(single, [2]string{name, pkg})
		}
	}
	slices.Sort(names)
	slices.Sort(group)
	trim, cleanup, err := trimFlags(ctx, dir, m)
	if err != nil {
		return err
	}
	defer cleanup()
	start := time.Now()
	logf("testbed: building %s %s (%s)", m.module, version, strings.Join(names, ", "))
	runOnce := func(args ...string) error {
		flags := []string{"build", "-ldflags", ldflags}
		if m.tags != "" {
			flags = append(flags, "-tags", m.tags)
		}
		flags = append(flags, trim...)
		args = append(flags, args...)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		// A go.work above the repository must not pull the tools modules
		// into another module graph.
		cmd.Env = append(os.Environ(), "GOWORK=off")
		cmd.SysProcAttr = sysProcAttr()
		cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
		outb, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), dir, err, outb)
		}
		return nil
	}
	// One retry: on a shared machine the go build cache can lose an entry
	// under a running build ("link: cannot open file .../go-build/..."); a
	// real compile error fails again at once, from the cache.
	run := func(args ...string) error {
		err := runOnce(args...)
		if err != nil && ctx.Err() == nil {
			logf("testbed: %v\ntestbed: retrying once", err)
			err = runOnce(args...)
		}
		return err
	}
	if len(group) > 0 {
		if err := run(append([]string{"-o", out + string(filepath.Separator)}, group...)...); err != nil {
			return err
		}
	}
	for _, s := range single {
		if err := run("-o", filepath.Join(out, s[0]), s[1]); err != nil {
			return err
		}
	}
	logf("testbed: built %s in %s", strings.Join(names, ", "), time.Since(start).Round(time.Second))
	return nil
}

// copyKwokStages copies the YAML stage files of kwokStageDirs out of the kwok
// module (downloading it if the module cache lacks it).
func copyKwokStages(ctx context.Context, kwokToolsDir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok")
	cmd.Dir = kwokToolsDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	b, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("locating the kwok module: %w", err)
	}
	modDir := strings.TrimSpace(string(b))
	if modDir == "" {
		return errors.New("locating the kwok module: go list printed no folder")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, sd := range kwokStageDirs {
		src := filepath.Join(modDir, "kustomize", "stage", filepath.FromSlash(sd))
		entries, err := os.ReadDir(src)
		if err != nil {
			return fmt.Errorf("kwok stages: %w", err)
		}
		n := 0
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") || e.Name() == "kustomization.yaml" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				return err
			}
			dst := filepath.Join(out, strings.ReplaceAll(sd, "/", "-")+"-"+e.Name())
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return fmt.Errorf("kwok stages: no stage files in %s", src)
		}
	}
	return nil
}

// kwokStageFiles lists the stage files of a bin folder.
func kwokStageFiles(binDir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(binDir, kwokStagesDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no kwok stage files in %s", filepath.Join(binDir, kwokStagesDir))
	}
	return files, nil
}

// checkBinDir reports what a bin folder lacks.
func checkBinDir(dir string) error {
	var missing []string
	for _, name := range binaryNames() {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if _, err := kwokStageFiles(dir); err != nil {
		missing = append(missing, kwokStagesDir+"/*.yaml")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// lockFile takes an exclusive flock on path, logging while it waits.
func lockFile(ctx context.Context, path string, logf func(string, ...any)) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !logged {
			logf("testbed: another process is building the binaries; waiting for %s", path)
			logged = true
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// binariesPresent reports whether Build would return without building.
func binariesPresent(ctx context.Context, opts BuildOptions) bool {
	if dir := os.Getenv(BinEnv); dir != "" {
		return true // Build reports a bad folder clearly; nothing to time.
	}
	info, _, err := planBuild(ctx, opts)
	return err == nil && checkBinDir(info.Dir) == nil
}
