package deploy

import (
	"bufio"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"sigs.k8s.io/yaml"
)

// Every alert links to its runbook: a section of docs/operations.md, at the
// anchor GitHub gives that section's heading.

const (
	runbookDoc    = "../docs/operations.md"
	runbookPrefix = "https://github.com/prescaler/prescaler/blob/main/docs/operations.md#"
)

// ruleFiles are the alert files shipped: deploy/monitoring's and the chart's
// (a link to it, which helm resolves; TestChartFilesAreMonitorings checks it
// stays one).
var ruleFiles = []string{rulesFile, filepath.Join(chartDir, "files", "prometheusrule.yaml")}

// alertRule is the part of an alerting rule the runbook check reads.
type alertRule struct {
	Alert       string            `json:"alert"`
	Annotations map[string]string `json:"annotations"`
}

// readAlerts returns the alerting rules of a PrometheusRule file.
func readAlerts(t *testing.T, path string) []alertRule {
	t.Helper()
	var rule struct {
		Kind string `json:"kind"`
		Spec struct {
			Groups []struct {
				Rules []alertRule `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, path)), &rule); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if rule.Kind != "PrometheusRule" {
		t.Fatalf("%s is a %q, want a PrometheusRule", path, rule.Kind)
	}
	var alerts []alertRule
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts = append(alerts, r)
			}
		}
	}
	return alerts
}

// markdownLink is an inline link, whose text alone is rendered.
var markdownLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// headingAnchors returns the anchors GitHub gives a Markdown document's ATX
// headings (# to ######, outside fenced code), in order.
func headingAnchors(doc string) []string {
	heading := regexp.MustCompile(`^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	seen := map[string]int{}
	var anchors []string
	fence := ""
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		case strings.HasPrefix(trimmed, "```"), strings.HasPrefix(trimmed, "~~~"):
			fence = trimmed[:3]
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			anchors = append(anchors, uniqueAnchor(seen, slug(markdownLink.ReplaceAllString(m[1], "$1"))))
		}
	}
	return anchors
}

// slug is GitHub's anchor for a heading's text (github-slugger): lower
// case, every character but letters, digits, marks, '-', '_' and spaces
// dropped, each space turned into '-'.
func slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-', r == '_', unicode.IsLetter(r), unicode.IsNumber(r), unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// uniqueAnchor numbers a repeated anchor as GitHub does: the second
// "logs" is "logs-1", the third "logs-2", skipping any taken already.
func uniqueAnchor(seen map[string]int, anchor string) string {
	unique := anchor
	for {
		if _, taken := seen[unique]; !taken {
			break
		}
		seen[anchor]++
		unique = fmt.Sprintf("%s-%d", anchor, seen[anchor])
	}
	seen[unique] = 0
	return unique
}

// runbookProblems checks that every alert's runbook_url is runbookPrefix
// followed by one of anchors.
func runbookProblems(alerts []alertRule, anchors []string) []string {
	var problems []string
	for _, a := range alerts {
		url := a.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(url, runbookPrefix)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: runbook_url %q, want %s<anchor>", a.Alert, url, runbookPrefix))
		case !slices.Contains(anchors, anchor):
			problems = append(problems, fmt.Sprintf("%s: runbook_url's anchor #%s is no heading of docs/operations.md", a.Alert, anchor))
		}
	}
	return problems
}

func TestEveryAlertHasARunbook(t *testing.T) {
	anchors := headingAnchors(readFile(t, runbookDoc))
	for _, path := range ruleFiles {
		alerts := readAlerts(t, path)
		if len(alerts) < 10 {
			t.Fatalf("%s: only %d alerts found", path, len(alerts))
		}
		for _, p := range runbookProblems(alerts, anchors) {
			t.Errorf("%s: %s", path, p)
		}
	}
}

func TestRunbookProblems(t *testing.T) {
	anchors := []string{"prescalerdown", "logs"}
	alerts := []alertRule{
		{Alert: "Linked", Annotations: map[string]string{"runbook_url": runbookPrefix + "prescalerdown"}},
		{Alert: "Missing"},
		{Alert: "Elsewhere", Annotations: map[string]string{"runbook_url": "https://example.com/runbooks#prescalerdown"}},
		{Alert: "NoSuchHeading", Annotations: map[string]string{"runbook_url": runbookPrefix + "prescaler-down"}},
	}
	problems := runbookProblems(alerts, anchors)
	var named []string
	for _, p := range problems {
		named = append(named, p[:strings.Index(p, ":")])
	}
	if want := []string{"Missing", "Elsewhere", "NoSuchHeading"}; !slices.Equal(named, want) {
		t.Errorf("problems %q, want one for each of %v", problems, want)
	}
}

// The anchors GitHub renders for these headings.
func TestHeadingAnchors(t *testing.T) {
	doc := "# Operating prescaler\n" +
		"## GitOps (Argo CD, Flux)\n" +
		"## Troubleshooting the seed's common failures\n" +
		"### `PrescalerDown`\n" +
		"### See [the docs](install.md#top) first ###\n" +
		"## Logs\n" +
		"```sh\n# not a heading\n```\n" +
		"## Logs\n" +
		"## Logs 1\n" +
		"## Logs\n" +
		"## A -- b_c: 2.0\n" +
		"## Überblick\n" +
		"#not a heading\n"
	want := []string{"operating-prescaler", "gitops-argo-cd-flux", "troubleshooting-the-seeds-common-failures",
		"prescalerdown", "see-the-docs-first", "logs", "logs-1", "logs-1-1", "logs-2", "a----b_c-20", "überblick"}
	if got := headingAnchors(doc); !slices.Equal(got, want) {
		t.Errorf("anchors\n got  %q\n want %q", got, want)
	}
}
