package prometheus

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/prescaler/prescaler/config"
)

// New returns a Source reading from the Prometheus server cfg describes:
// its URL, a timeout per request, TLS (CA, client certificate, server name,
// insecure), and a bearer token or basic-auth password read from files.
//
// The files are read when New is called, so a missing or unreadable one
// fails here, and re-read when they change (their size or modification time):
// a rotated service-account token or a renewed client certificate is used
// without a restart. Secrets never appear in errors or logs. The CA file is
// read once.
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
	rt, err := newRoundTripper(cfg, base.Host)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", redact(base), err)
	}
	rt = &guardRoundTripper{next: rt, limit: MaxResponseBytes}
	client, err := api.NewClient(api.Config{Address: cfg.URL, RoundTripper: rt})
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

// newRoundTripper builds the transport: http.DefaultTransport's settings
// (proxy from the environment, dial and handshake timeouts) with cfg's TLS,
// under a round tripper that adds the Authorization header.
func newRoundTripper(cfg config.Prometheus, host string) (http.RoundTripper, error) {
	tlsConfig, err := newTLSConfig(cfg.TLS)
	if err != nil {
		return nil, err
	}
	var transport *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		transport = dt.Clone()
	} else { // replaced by an instrumentation library: start from Go's defaults
		transport = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	}
	transport.TLSClientConfig = tlsConfig

	switch {
	case cfg.BearerTokenFile != "":
		token := &secretFile{path: cfg.BearerTokenFile, what: "bearer token file"}
		if _, err := token.read(); err != nil {
			return nil, err
		}
		return &authRoundTripper{next: transport, host: host, header: func() (string, error) {
			t, err := token.read()
			return "Bearer " + t, err
		}}, nil
	case cfg.BasicAuth.Username != "" || cfg.BasicAuth.PasswordFile != "":
		var password *secretFile
		if cfg.BasicAuth.PasswordFile != "" {
			password = &secretFile{path: cfg.BasicAuth.PasswordFile, what: "basic auth password file"}
			if _, err := password.read(); err != nil {
				return nil, err
			}
		}
		return &authRoundTripper{next: transport, host: host, header: func() (string, error) {
			p := ""
			if password != nil {
				var err error
				if p, err = password.read(); err != nil {
					return "", err
				}
			}
			r := http.Request{Header: http.Header{}}
			r.SetBasicAuth(cfg.BasicAuth.Username, p)
			return r.Header.Get("Authorization"), nil
		}}, nil
	}
	return transport, nil
}

// authRoundTripper sets the Authorization header on requests to the
// configured host. Requests to another host (a redirect) go without it, so
// a token never leaves for a server it was not meant for.
type authRoundTripper struct {
	next   http.RoundTripper
	host   string
	header func() (string, error)
}

func (rt *authRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != rt.host {
		return rt.next.RoundTrip(req)
	}
	h, err := rt.header()
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", h)
	return rt.next.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the transport.
func (rt *authRoundTripper) CloseIdleConnections() {
	if c, ok := rt.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// fileStamp identifies a version of a file well enough to notice a rewrite:
// Kubernetes replaces mounted Secrets and projected tokens by swapping a
// symlink, which os.Stat follows, so the stamp changes with the content.
type fileStamp struct {
	size    int64
	modTime time.Time
}

func stampOf(path string) (fileStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: st.Size(), modTime: st.ModTime()}, nil
}

// secretFile is a credential kept in a file, read again when the file
// changes. Errors name the file, never its content.
type secretFile struct {
	path string
	what string // "bearer token file", in errors

	mu    sync.Mutex
	stamp fileStamp
	value string
}

func (f *secretFile) read() (string, error) {
	stamp, err := stampOf(f.path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.what, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.value != "" && stamp == f.stamp {
		return f.value, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.what, err)
	}
	v := string(bytes.TrimSpace(b))
	if v == "" {
		return "", fmt.Errorf("%s %s is empty", f.what, f.path)
	}
	f.stamp, f.value = stamp, v
	return v, nil
}

// newTLSConfig returns the client TLS settings, or nil to keep Go's defaults.
func newTLSConfig(c config.TLS) (*tls.Config, error) {
	if c == (config.TLS{}) {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // an explicit, documented testing option
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca file %s: no PEM certificate found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		if c.CertFile == "" || c.KeyFile == "" {
			return nil, errors.New("tls: certFile and keyFile must be set together")
		}
		kp := &keyPair{certFile: c.CertFile, keyFile: c.KeyFile}
		if _, err := kp.get(); err != nil {
			return nil, err
		}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	}
	return tc, nil
}

// keyPair is a client certificate loaded again when either file changes, so
// a certificate renewed on disk (cert-manager) is picked up at the next
// handshake.
type keyPair struct {
	certFile, keyFile string

	mu     sync.Mutex
	stamps [2]fileStamp
	cert   *tls.Certificate
}

func (k *keyPair) get() (*tls.Certificate, error) {
	cs, err := stampOf(k.certFile)
	if err != nil {
		return nil, fmt.Errorf("tls cert file: %w", err)
	}
	ks, err := stampOf(k.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls key file: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil && k.stamps == [2]fileStamp{cs, ks} {
		return k.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls client certificate %s, key %s: %w", k.certFile, k.keyFile, err)
	}
	k.stamps, k.cert = [2]fileStamp{cs, ks}, &cert
	return k.cert, nil
}
