package testbed

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The KEDA operator has its own cache folder: adding it must leave the
// testbed's key (and so every existing cache) as it was.
func TestKEDACacheKeyIsSeparate(t *testing.T) {
	tools, err := findToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	core, _, err := planBuild(ctx, BuildOptions{ToolsDir: tools, CacheDir: "/cache"})
	if err != nil {
		t.Fatal(err)
	}
	keda, _, err := planModules(ctx, BuildOptions{ToolsDir: tools, CacheDir: "/cache"}, []toolModule{kedaTool.module})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(core.Key, "keda") {
		t.Errorf("testbed key %q names KEDA; it must not be built by default", core.Key)
	}
	if !strings.HasPrefix(keda.Key, "keda-2.") {
		t.Errorf("KEDA key = %q, want keda-<version>_...", keda.Key)
	}
	if keda.Versions[kedaTool.module.module] == "" {
		t.Errorf("no KEDA version in %v", keda.Versions)
	}
}

func TestInstallOnceBuildsOnceAndChecks(t *testing.T) {
	binDir := filepath.Join(t.TempDir(), "key", "bin")
	check := func(dir string) error {
		if _, err := os.Stat(filepath.Join(dir, "tool")); err != nil {
			return errors.New("missing tool")
		}
		return nil
	}
	fills := 0
	fill := func(tmp string) error {
		fills++
		return os.WriteFile(filepath.Join(tmp, "tool"), []byte("#!/bin/sh\n"), 0o755)
	}
	ctx := context.Background()
	for i, wantBuilt := range []bool{true, false} {
		built, err := installOnce(ctx, binDir, check, t.Logf, fill)
		if err != nil || built != wantBuilt {
			t.Fatalf("call %d: built %v, err %v; want built %v", i, built, err, wantBuilt)
		}
	}
	if fills != 1 {
		t.Errorf("fill ran %d times, want 1", fills)
	}
	if st, err := os.Stat(binDir); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("bin folder: %v, %v", st, err)
	}

	// A fill that leaves the folder incomplete fails and installs nothing.
	other := filepath.Join(t.TempDir(), "key", "bin")
	_, err := installOnce(ctx, other, check, t.Logf, func(string) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "missing tool") {
		t.Errorf("incomplete fill: err = %v", err)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("incomplete folder was installed: %v", err)
	}
}

func TestCheckKEDADir(t *testing.T) {
	dir := t.TempDir()
	err := kedaTool.check(dir)
	if err == nil || !strings.Contains(err.Error(), string(KEDA)) || !strings.Contains(err.Error(), "keda.sh_scaledobjects.yaml") {
		t.Errorf("empty folder: err = %v, want the operator and the CRDs named", err)
	}
	if err := os.WriteFile(filepath.Join(dir, string(KEDA)), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, kedaTool.configDir), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range kedaTool.configFiles {
		if err := os.WriteFile(filepath.Join(dir, kedaTool.configDir, filepath.Base(f)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := kedaTool.check(dir); err != nil {
		t.Errorf("complete folder: %v", err)
	}
}

func TestReadManifestsSkipsEmptyDocuments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rbac.yaml")
	data := "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: a\n---\n---\n" +
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: b\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := readManifests(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
		if _, ok := manifestResources[o.GetKind()]; !ok {
			t.Errorf("no resource for kind %s", o.GetKind())
		}
	}
	if strings.Join(got, ",") != "ClusterRole/a,Role/b" {
		t.Errorf("objects = %v", got)
	}
}

// Whether a KEDA test runs, skips or fails depends on KEDAEnv, -short and
// the build alone: under require (make test) a missing operator fails.
func TestDecideKEDA(t *testing.T) {
	notBuilt := errors.New("missing keda-operator")
	for _, tc := range []struct {
		name    string
		mode    string
		short   bool
		missing error
		want    toolVerdict
		// wantWhy is part of the message; askBuilt whether the build may be
		// looked at (it runs the go command).
		wantWhy  string
		askBuilt bool
	}{
		{name: "unset, built", want: runTest, askBuilt: true},
		{name: "unset, not built", missing: notBuilt, want: skipTest, wantWhy: "make testbed-keda", askBuilt: true},
		{name: "require, built", mode: "require", want: runTest, askBuilt: true},
		{name: "require, not built", mode: "require", missing: notBuilt, want: failTest,
			wantWhy: "PRESCALER_TESTBED_KEDA=require, but the KEDA operator is not built (missing keda-operator): run `make testbed-keda`", askBuilt: true},
		{name: "require under -short", mode: "require", short: true, missing: notBuilt, want: skipTest, wantWhy: "-short"},
		{name: "on, not built", mode: "on", missing: notBuilt, want: buildFirst},
		{name: "off, built", mode: "off", want: skipTest, wantWhy: "PRESCALER_TESTBED_KEDA=off"},
		{name: "unknown value", mode: "yes", want: failTest, wantWhy: `PRESCALER_TESTBED_KEDA="yes": want require, on, off or unset`},
		{name: "unknown value under -short", mode: "1", short: true, want: failTest, wantWhy: `PRESCALER_TESTBED_KEDA="1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			got, why := kedaTool.decide(tc.mode, tc.short, func() error { asked = true; return tc.missing })
			if got != tc.want || !strings.Contains(why, tc.wantWhy) {
				t.Errorf("verdict %d (%q), want %d with %q", got, why, tc.want, tc.wantWhy)
			}
			if asked && !tc.askBuilt {
				t.Error("looked at the build, which cannot change the verdict")
			}
		})
	}
}
