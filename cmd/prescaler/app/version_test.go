package app_test

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/prescaler/prescaler/internal/version"
)

func TestVersion(t *testing.T) {
	cases := []struct {
		name                      string
		version, commit, built    string
		wantText                  string // "" = not checked beyond the common shape
		wantCommit, wantBuildDate bool
	}{
		{name: "plain go build", version: "dev"},
		{
			name: "stamped by the linker", version: "v0.3.1", commit: "4974d74", built: "2026-11-27T02:15:02Z",
			wantText:   "prescaler v0.3.1 (4974d74) built 2026-11-27T02:15:02Z " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n",
			wantCommit: true, wantBuildDate: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stamp(t, c.version, c.commit, c.built)
			want := version.Get()

			text, _ := mustRun(t, "version")
			if text != want.String()+"\n" || strings.Count(text, "\n") != 1 {
				t.Errorf("version = %q, want the one line %q", text, want.String())
			}
			if !strings.HasPrefix(text, "prescaler "+c.version+" ") || !strings.HasSuffix(text, " "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n") {
				t.Errorf("version = %q, want prescaler %s … %s %s/%s", text, c.version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			}
			if c.wantText != "" && text != c.wantText {
				t.Errorf("version = %q, want %q", text, c.wantText)
			}

			out, _ := mustRun(t, "version", "--json")
			var fields map[string]any
			if err := json.Unmarshal([]byte(out), &fields); err != nil {
				t.Fatalf("version --json is not JSON: %v\n%s", err, out)
			}
			for _, key := range []string{"version", "goVersion", "platform"} {
				if s, ok := fields[key].(string); !ok || s == "" {
					t.Errorf("version --json: %q = %v, want a non-empty string", key, fields[key])
				}
			}
			for key, present := range map[string]bool{"commit": c.wantCommit || want.Commit != "", "buildDate": c.wantBuildDate} {
				if _, ok := fields[key]; ok != present {
					t.Errorf("version --json: key %q present = %v, want %v", key, ok, present)
				}
			}
			if len(fields) > 5 {
				t.Errorf("version --json has unexpected keys: %v", fields)
			}
			dec := json.NewDecoder(strings.NewReader(out))
			dec.DisallowUnknownFields()
			var info version.Info
			if err := dec.Decode(&info); err != nil {
				t.Fatal(err)
			}
			if info != want {
				t.Errorf("version --json = %+v, want %+v", info, want)
			}
			if !strings.HasPrefix(out, "{\n  \"version\": ") || !strings.HasSuffix(out, "}\n") {
				t.Errorf("version --json is not indented JSON ending in a newline:\n%s", out)
			}
		})
	}
}

func TestVersionRejectsArguments(t *testing.T) {
	_, _, err := runCLI(t, "version", "extra")
	if err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("version extra: error %v, want one naming \"extra\"", err)
	}
}

// stamp sets the linker-stamped build variables for the test.
func stamp(t *testing.T, v, commit, built string) {
	t.Helper()
	old := [3]string{version.Version, version.Commit, version.BuildDate}
	version.Version, version.Commit, version.BuildDate = v, commit, built
	t.Cleanup(func() { version.Version, version.Commit, version.BuildDate = old[0], old[1], old[2] })
}
