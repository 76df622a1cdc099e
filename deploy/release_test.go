package deploy

import (
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
)

// versionForm is a release version: v, SemVer's three numbers, an optional
// pre-release. No +build part: an image tag cannot hold a "+".
var versionForm = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// releaseVersion is the VERSION file's version: the one place it is written
// (make release and hack/release.sh read it).
func releaseVersion(t *testing.T) string {
	t.Helper()
	raw := readFile(t, "../VERSION")
	v, ok := strings.CutSuffix(raw, "\n")
	if !ok || !versionForm.MatchString(v) {
		t.Fatalf("VERSION holds %q, want one line v<major>.<minor>.<patch>[-<pre-release>]", raw)
	}
	return v
}

// releaseImage is the image a release's installs run: the Makefile's IMAGE,
// which make image builds, tagged with the release version.
func releaseImage(t *testing.T) string {
	t.Helper()
	return makeVar(t, readFile(t, "../Makefile"), "IMAGE") + ":" + releaseVersion(t)
}

// The release version is written once, in VERSION; everything that names a
// version says the same: the chart's appVersion (its image tag default) and
// version (without the "v"), deploy/base's and deploy/agent's image tags, and
// CHANGELOG.md.
// hack/release.sh refuses to release from a tree where they differ.
func TestReleaseVersionsAgree(t *testing.T) {
	version := releaseVersion(t)
	image := releaseImage(t)
	repository, _, _ := strings.Cut(image, ":")

	// Helm requires a chart's version in SemVer 2, which has no "v".
	var chart struct{ Version, AppVersion string }
	unmarshal(t, filepath.Join(chartDir, "Chart.yaml"), &chart)
	if want := strings.TrimPrefix(version, "v"); chart.Version != want || chart.AppVersion != version {
		t.Errorf("%s/Chart.yaml: version %q, appVersion %q; want %s and %s (VERSION)", chartDir, chart.Version, chart.AppVersion, want, version)
	}
	var values struct {
		Image struct{ Repository, Tag, Digest string }
	}
	unmarshal(t, filepath.Join(chartDir, "values.yaml"), &values)
	if values.Image.Repository != repository || values.Image.Tag != "" || values.Image.Digest != "" {
		t.Errorf("%s/values.yaml: image %+v, want repository %s with tag and digest empty (the tag is then appVersion)",
			chartDir, values.Image, repository)
	}

	// deploy/base and deploy/agent (its own install) map the manifests'
	// image name to the release's image.
	for _, dir := range []string{"base", "agent"} {
		var k kustomization
		path := filepath.Join(dir, "kustomization.yaml")
		unmarshal(t, path, &k)
		if len(k.Images) != 1 || k.Images[0].NewName != repository || k.Images[0].NewTag != version || k.Images[0].Digest != "" {
			t.Errorf("%s: images %+v, want one entry with newName %s and newTag %s", path, k.Images, repository, version)
		}
	}
	for _, dir := range []string{"base", ".", "namespaced"} {
		if got := deployment(t, render(t, dir)).Spec.Template.Spec.Containers[0].Image; got != image {
			t.Errorf("deploy/%s: the Deployment's image is %q, want %s", dir, got, image)
		}
	}
	if got := daemonSet(t, render(t, "agent"), "prescaler-agent").Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("deploy/agent: the DaemonSet's image is %q, want %s", got, image)
	}
	// No kustomization pins the image at another tag.
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() != "kustomization.yaml" {
			return err
		}
		var k kustomization
		unmarshal(t, path, &k)
		for _, img := range k.Images {
			if (img.NewName == repository || img.Name == repository) && (img.NewTag != version || img.Digest != "") {
				t.Errorf("%s: images entry %+v, want newTag %s (VERSION)", path, img, version)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// CHANGELOG.md (Keep a Changelog) has a section for the version, dated,
	// with something in it.
	log := readFile(t, "../CHANGELOG.md")
	heading := regexp.MustCompile(`(?m)^## \[` + regexp.QuoteMeta(version) + `\] - [0-9]{4}-[0-9]{2}-[0-9]{2}\n`)
	loc := heading.FindStringIndex(log)
	if loc == nil {
		t.Fatalf("CHANGELOG.md has no section \"## [%s] - YYYY-MM-DD\"", version)
	}
	section := log[loc[1]:]
	if next := strings.Index(section, "\n## "); next >= 0 {
		section = section[:next]
	}
	if !strings.Contains(section, "\n- ") && !strings.HasPrefix(section, "- ") {
		t.Errorf("CHANGELOG.md's section for %s lists nothing", version)
	}
}

// kustomization is the part of a kustomization.yaml the release checks.
type kustomization struct {
	Images []struct{ Name, NewName, NewTag, Digest string }
}

func unmarshal(t *testing.T, path string, into any) {
	t.Helper()
	if err := k8syaml.Unmarshal([]byte(readFile(t, path)), into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
