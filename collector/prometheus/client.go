package prometheus

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	promconfig "github.com/prometheus/common/config"

	"github.com/prescaler/prescaler/config"
)

// New returns a Source reading from the Prometheus server cfg describes:
// its URL, a timeout per request, TLS (CA, client certificate, server name,
// insecure), and a bearer token or basic-auth password read from files.
// The HTTP client is Prometheus' own (prometheus/common/config), so the keys
// behave as bearer_token_file, basic_auth and tls_config do in Prometheus.
//
// The credential files are read when New is called, so a missing,
// unreadable or empty one fails here; the CA, certificate and key files are
// read here too. Every request reads them all again, so a rotated
// service-account token, a renewed client certificate or a new CA is used
// without a restart. Credentials go only to the configured host, never to
// another one a redirect points at, and never appear in errors or logs.
//
// Every response body is capped at MaxResponseBytes, and a range query
// answer that holds more series than one is refused as soon as the series
// after the listed ones begins, not after the whole answer was read.
func New(cfg config.Prometheus, logger *slog.Logger) (*Source, error) {
	base, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("prometheus url: %w", err)
	}
	if base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("prometheus url %s: want http(s)://host[:port][/path]", redact(base))
	}
	httpClient, err := newHTTPClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", redact(base), err)
	}
	httpClient.Transport = &guardRoundTripper{next: httpClient.Transport, limit: MaxResponseBytes}
	client, err := api.NewClient(api.Config{Address: cfg.URL, Client: httpClient})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", redact(base), err)
	}
	return NewSource(v1.NewAPI(client), SourceOptions{
		URL:     redact(base),
		Timeout: time.Duration(cfg.Timeout),
		Logger:  logger,
	}), nil
}

// redact returns u without user information or query: safe in errors and logs.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.Fragment = ""
	return c.String()
}

// newHTTPClient checks the credential files and builds Prometheus' HTTP
// client for cfg.
func newHTTPClient(cfg config.Prometheus) (*http.Client, error) {
	if err := checkCredentialFiles(cfg); err != nil {
		return nil, err
	}
	hc := httpClientConfig(cfg)
	if err := hc.Validate(); err != nil {
		return nil, err
	}
	return promconfig.NewClientFromConfig(hc, "prometheus")
}

// httpClientConfig maps prescaler's prometheus.* keys onto Prometheus'
// client configuration. The configuration's validation allows a bearer
// token or basic auth, not both.
func httpClientConfig(cfg config.Prometheus) promconfig.HTTPClientConfig {
	hc := promconfig.DefaultHTTPClientConfig
	// A cluster's egress proxy is set in HTTPS_PROXY and NO_PROXY, which
	// Go's default transport honours; Prometheus' client does when asked.
	hc.ProxyFromEnvironment = true
	hc.TLSConfig = promconfig.TLSConfig{
		CAFile:             cfg.TLS.CAFile,
		CertFile:           cfg.TLS.CertFile,
		KeyFile:            cfg.TLS.KeyFile,
		ServerName:         cfg.TLS.ServerName,
		InsecureSkipVerify: cfg.TLS.InsecureSkipVerify,
		MinVersion:         tls.VersionTLS12,
	}
	switch {
	case cfg.BearerTokenFile != "":
		hc.Authorization = &promconfig.Authorization{Type: "Bearer", CredentialsFile: cfg.BearerTokenFile}
	case cfg.BasicAuth != (config.BasicAuth{}):
		hc.BasicAuth = &promconfig.BasicAuth{Username: cfg.BasicAuth.Username, PasswordFile: cfg.BasicAuth.PasswordFile}
	}
	return hc
}

// checkCredentialFiles reads the token and password files once. Prometheus'
// client reads them only when it sends a request; a file that is missing,
// unreadable or empty at start is a mistake in the deployment, reported by
// its key before the daemon starts rather than by every query after.
func checkCredentialFiles(cfg config.Prometheus) error {
	for _, f := range []struct{ key, path string }{
		{"prometheus.bearerTokenFile", cfg.BearerTokenFile},
		{"prometheus.basicAuth.passwordFile", cfg.BasicAuth.PasswordFile},
	} {
		if f.path == "" {
			continue
		}
		secret, err := promconfig.NewFileSecret(f.path).Fetch(context.Background())
		if err != nil {
			return fmt.Errorf("%s: %w", f.key, err)
		}
		if secret == "" {
			return fmt.Errorf("%s: file %s is empty", f.key, f.path)
		}
	}
	return nil
}
