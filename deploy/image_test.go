package deploy

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The Dockerfile builds the binary as `make build` does: the same -ldflags
// (the Makefile's LDFLAGS, with the build args for its variables), -trimpath,
// cgo with the same CGO_CFLAGS. hack/image-build-check.sh runs the
// Dockerfile's own line, so the two cannot drift from each other; this keeps
// both in step with the Makefile.
func TestDockerfileBuildsLikeTheMakefile(t *testing.T) {
	df := readFile(t, "../Dockerfile")
	mk := readFile(t, "../Makefile")

	run := dockerfileGoBuild(t, df)
	flags := strings.Fields(run)
	for _, want := range []string{"-trimpath", "-buildvcs=false", "./cmd/prescaler"} {
		if !slices.Contains(flags, want) {
			t.Errorf("the Dockerfile's go build lacks %s: %s", want, run)
		}
	}
	if strings.Contains(run, "-z now") || strings.Contains(run, "-z,now") || strings.Contains(run, "-static") {
		t.Errorf("the Dockerfile links with -z now or statically (docs/agent.md says why not): %s", run)
	}
	ldflags := regexp.MustCompile(`-ldflags "([^"]*)"`).FindStringSubmatch(run)
	if ldflags == nil {
		t.Fatalf("no -ldflags \"...\" in the Dockerfile's go build: %s", run)
	}
	// The Makefile's LDFLAGS with $(PKG) expanded and $(X) written ${X}, as
	// the Dockerfile's build args are.
	pkg := makeVar(t, mk, "PKG")
	want := strings.ReplaceAll(makeVar(t, mk, "LDFLAGS"), "$(PKG)", pkg)
	want = regexp.MustCompile(`\$\((\w+)\)`).ReplaceAllString(want, "$${$1}")
	if got := strings.Join(strings.Fields(ldflags[1]), " "); got != want {
		t.Errorf("the Dockerfile's -ldflags differ from the Makefile's LDFLAGS:\n dockerfile %s\n makefile   %s", got, want)
	}
	if !strings.Contains(makeVar(t, mk, "build:"), "-trimpath") {
		t.Error("make build does not use -trimpath; the image does")
	}
	for _, arg := range []string{"VERSION", "COMMIT", "BUILD_DATE"} {
		if !regexp.MustCompile(`(?m)^ARG ` + arg + `\b`).MatchString(df) {
			t.Errorf("the Dockerfile declares no ARG %s", arg)
		}
		if !strings.Contains(makeVar(t, mk, "image:"), "--build-arg "+arg+"=$("+arg+")") {
			t.Errorf("make image does not pass --build-arg %s", arg)
		}
	}
	if cflags := makeVar(t, mk, "CGO_CFLAGS"); !strings.Contains(df, `CGO_CFLAGS="`+cflags+`"`) {
		t.Errorf("the Dockerfile's CGO_CFLAGS are not the Makefile's %q", cflags)
	}
	for _, want := range []string{"CGO_ENABLED=1", "ARG GO_IMAGE=golang:1.26-bookworm",
		"ARG RUNTIME_IMAGE=gcr.io/distroless/base-debian12:nonroot", "USER 65532:65532", `ENTRYPOINT ["/prescaler"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %s", want)
		}
	}
}

// The image's build stage, run without Docker by the check script: the
// binary reports the stamped version, links only glibc, lazily, and builds
// byte for byte the same twice.
func TestImageBuildCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds prescaler twice")
	}
	cmd := exec.CommandContext(t.Context(), "bash", "../hack/image-build-check.sh")
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatal(err)
	}
}

// dockerfileGoBuild returns the RUN instruction with go build, continuation
// lines joined.
func dockerfileGoBuild(t *testing.T, df string) string {
	t.Helper()
	var runs []string
	for _, ins := range instructions(df) {
		if strings.HasPrefix(ins, "RUN ") && strings.Contains(ins, "go build") {
			runs = append(runs, ins)
		}
	}
	if len(runs) != 1 {
		t.Fatalf("want one RUN with go build in the Dockerfile, got %q", runs)
	}
	return runs[0]
}

// instructions joins a Dockerfile's continuation lines and drops comments.
func instructions(df string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.SplitSeq(df, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		body, cont := strings.CutSuffix(trimmed, `\`)
		cur.WriteString(body + " ")
		if !cont {
			out = append(out, strings.Join(strings.Fields(cur.String()), " "))
			cur.Reset()
		}
	}
	return out
}

// makeVar returns a Makefile variable's value (NAME := or ?=, continuation
// lines joined, spaces collapsed) or, for "target:", that rule's recipe.
func makeVar(t *testing.T, mk, name string) string {
	t.Helper()
	lines := strings.Split(mk, "\n")
	for i, line := range lines {
		var value string
		if target, ok := strings.CutSuffix(name, ":"); ok {
			if !strings.HasPrefix(line, target+":") {
				continue
			}
			var recipe []string
			for _, l := range lines[i+1:] {
				if !strings.HasPrefix(l, "\t") {
					break
				}
				recipe = append(recipe, strings.TrimSuffix(strings.TrimSpace(l), `\`))
			}
			return strings.Join(strings.Fields(strings.Join(recipe, " ")), " ")
		}
		m := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `\s*[:?]?=\s*(.*)$`).FindStringSubmatch(line)
		if m == nil {
			continue
		}
		value = m[1]
		for j := i; strings.HasSuffix(strings.TrimSpace(lines[j]), `\`) && j+1 < len(lines); j++ {
			value = strings.TrimSuffix(strings.TrimSpace(value), `\`) + " " + strings.TrimSpace(lines[j+1])
		}
		return strings.Join(strings.Fields(value), " ")
	}
	t.Fatalf("the Makefile has no %s", name)
	return ""
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
