package app_test

import (
	"strings"
	"testing"
)

// A password in the Prometheus URL's user information is never printed by
// check-config: not in the summary, not in --print, not in a problem, not
// in the warning that points to basicAuth.passwordFile. The daemon's logs
// already redacted it; check-config used to print it.
func TestCheckConfigRedactsTheURLPassword(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	withURL := func(url string) string { return "prometheus: {url: \"" + url + "\"}\n" + validTarget }
	isolateConfigEnv(t)
	url := "https://reader:" + secret + "@prometheus.example.com:9090/api"

	stdout, stderr := mustRun(t, "check-config", "--config", writeConfig(t, withURL(url)))
	printed, _ := mustRun(t, "check-config", "--config", writeConfig(t, withURL(url)), "--print")
	_, problems, err := runCLI(t, "check-config", "--config", writeConfig(t, withURL("ftp://reader:"+secret+"@prometheus:9090")))
	_, unparsable, err2 := runCLI(t, "check-config", "--config", writeConfig(t, withURL("http://reader:"+secret+"@[::1")))
	if err == nil || err2 == nil {
		t.Fatalf("bad URLs accepted: %v, %v", err, err2)
	}
	for name, out := range map[string]string{"summary": stdout, "warnings": stderr, "--print": printed,
		"problems": problems, "unparsable URL problem": unparsable} {
		if strings.Contains(out, secret) {
			t.Errorf("%s prints the password:\n%s", name, out)
		}
	}
	for name, c := range map[string]struct{ out, want string }{
		"summary":                {stdout, "Prometheus https://reader:xxxxx@prometheus.example.com:9090/api"},
		"warnings":               {stderr, "warning: prometheus.url: \"https://reader:xxxxx@prometheus.example.com:9090/api\" holds a password"},
		"--print":                {printed, "url: https://reader:xxxxx@prometheus.example.com:9090/api"},
		"problems":               {problems, `prometheus.url: "ftp://reader:xxxxx@prometheus:9090" must start with http:// or https://`},
		"unparsable URL problem": {unparsable, `prometheus.url: "http://xxxxx@[::1" is not a URL`},
	} {
		if !strings.Contains(c.out, c.want) {
			t.Errorf("%s does not show %q:\n%s", name, c.want, c.out)
		}
	}
}
