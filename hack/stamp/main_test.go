package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Builds a small program that holds internal/version's variables the way
// hack/release.sh builds prescaler, for both released architectures, and
// reads the stamps back.
func TestStamp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four small binaries")
	}
	x := func(name, value string) string { return " -X " + versionPkg + "." + name + "=" + value }
	stampFlags := "-w" + x("Version", "v1.2.3-rc.1") + x("Commit", "0123456789abcdef0123456789abcdef01234567") + x("BuildDate", "2001-02-03T04:05:06Z")
	stamped := "version=v1.2.3-rc.1\ncommit=0123456789abcdef0123456789abcdef01234567\nbuildDate=2001-02-03T04:05:06Z\n"
	for _, c := range []struct {
		name, goarch, ldflags string
		want, wantErr         string
	}{
		{name: "amd64", goarch: "amd64", ldflags: stampFlags, want: "goarch=amd64\nstatic=true\n" + stamped},
		{name: "arm64", goarch: "arm64", ldflags: stampFlags, want: "goarch=arm64\nstatic=true\n" + stamped},
		{name: "not stamped", goarch: "amd64", ldflags: "-w", want: "goarch=amd64\nstatic=true\nversion=dev\ncommit=\nbuildDate=\n"},
		{name: "stripped", goarch: "amd64", ldflags: "-s -w", wantErr: "no symbol table"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "stamped")
			cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags", c.ldflags, "-o", bin, "./testdata/stamped")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+c.goarch)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			var out bytes.Buffer
			err := run(&out, bin)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != c.want {
				t.Errorf("got\n%s\nwant\n%s", out.String(), c.want)
			}
		})
	}
}

func TestNotAnELFFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := run(&bytes.Buffer{}, path); err == nil {
		t.Fatal("no error for a file that is not ELF")
	}
}
