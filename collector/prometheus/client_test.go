package prometheus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prescaler/prescaler/config"
)

var at = time.Date(2025, 3, 3, 10, 0, 0, 0, time.UTC)

// writeFile writes content and sets the modification time, so that a
// rewrite within the file system's timestamp resolution is still seen.
func writeFile(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// TestBearerTokenFile checks the header, that a rotated token is used from
// the next request, and that the token never shows in an error.
func TestBearerTokenFile(t *testing.T) {
	fake, srv := newFakeProm(t, one(minuteValue))
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "first-token\n", at)
	cfg := promConfig(srv.URL)
	cfg.BearerTokenFile = tokenFile
	src, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	query := func() {
		t.Helper()
		if _, err := src.Latest(context.Background(), "up", at, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	query()
	query()
	// Same length, new content.
	writeFile(t, tokenFile, "other-token\n", at.Add(time.Second))
	query()
	// Kubernetes swaps a symlink to rotate a projected token.
	dir := filepath.Dir(tokenFile)
	writeFile(t, filepath.Join(dir, "token.v2"), "third-token-longer", at.Add(2*time.Second))
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "token.v2"), tokenFile); err != nil {
		t.Fatal(err)
	}
	query()

	var got []string
	for _, r := range fake.received() {
		got = append(got, r.auth)
	}
	want := []string{"Bearer first-token", "Bearer first-token", "Bearer other-token", "Bearer third-token-longer"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Authorization headers = %q, want %q", got, want)
	}

	// A token file that disappears fails the query, naming the file only.
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	_, err = src.Latest(context.Background(), "up", at, time.Minute)
	wantAll(t, err, srv.URL, tokenFile)
	if strings.Contains(err.Error(), "token-longer") {
		t.Errorf("error %q shows the token", err)
	}
}

func TestBearerTokenFileAtStart(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, " \n", at)
	for name, path := range map[string]string{"missing": filepath.Join(dir, "missing"), "empty": empty} {
		cfg := promConfig("http://prometheus:9090")
		cfg.BearerTokenFile = path
		_, err := New(cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "prometheus.bearerTokenFile") || !strings.Contains(err.Error(), path) ||
			!strings.Contains(err.Error(), "http://prometheus:9090") {
			t.Errorf("%s token file: New error = %v, want one naming the URL, the key and %s", name, err, path)
		}
	}
}

func TestBasicAuthPasswordFile(t *testing.T) {
	fake, srv := newFakeProm(t, one(minuteValue))
	passwordFile := filepath.Join(t.TempDir(), "password")
	writeFile(t, passwordFile, "pa:ss\n", at)
	cfg := promConfig(srv.URL)
	cfg.BasicAuth = config.BasicAuth{Username: "prescaler", PasswordFile: passwordFile}
	src, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Latest(context.Background(), "up", at, time.Minute); err != nil {
		t.Fatal(err)
	}
	writeFile(t, passwordFile, "rotated", at.Add(time.Second))
	if _, err := src.Latest(context.Background(), "up", at, time.Minute); err != nil {
		t.Fatal(err)
	}
	reqs := fake.received()
	for i, want := range []string{"prescaler:pa:ss", "prescaler:rotated"} {
		if got := reqs[i].auth; got != "Basic "+base64.StdEncoding.EncodeToString([]byte(want)) {
			t.Errorf("request %d: Authorization %q, want basic auth for %q", i, got, want)
		}
	}
}

// TestCredentialsStayOnHost checks that a redirect to another host does not
// carry the token.
func TestCredentialsStayOnHost(t *testing.T) {
	var mu sync.Mutex
	var otherAuth []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		otherAuth = append(otherAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		apiError(w, http.StatusBadRequest, "bad_data", "redirected")
	}))
	t.Cleanup(other.Close)
	// "localhost" and "127.0.0.1" are different hosts to the client.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			t.Errorf("the configured host got Authorization %q", r.Header.Get("Authorization"))
		}
		http.Redirect(w, r, otherURL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)

	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "t0ken", at)
	cfg := promConfig(redirector.URL)
	cfg.BearerTokenFile = tokenFile
	src, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Latest(context.Background(), "up", at, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "redirected") {
		t.Fatalf("err = %v, want the other server's answer", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(otherAuth) != 1 || otherAuth[0] != "" {
		t.Errorf("the other host got Authorization %q, want none", otherAuth)
	}
}

// testPKI is a CA with a server certificate for "prometheus.monitoring.svc"
// and a client certificate, written as PEM files.
type testPKI struct {
	dir                           string
	caFile, serverCert, serverKey string
	clientCertFile, clientKeyFile string
	ca                            *x509.Certificate
	caKey                         *ecdsa.PrivateKey
	caPool                        *x509.CertPool
	serverTLS                     tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	p.caKey = newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "prescaler test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(p.ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	p.serverCert, p.serverKey = p.issue(t, "server", x509.ExtKeyUsageServerAuth, "prometheus.monitoring.svc")
	if p.serverTLS, err = tls.LoadX509KeyPair(p.serverCert, p.serverKey); err != nil {
		t.Fatal(err)
	}
	p.clientCertFile, p.clientKeyFile = p.issue(t, "client", x509.ExtKeyUsageClientAuth, "")
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (p *testPKI) issue(t *testing.T, name string, usage x509.ExtKeyUsage, dnsName string) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	sn, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if dnsName != "" {
		tmpl.DNSNames = []string{dnsName}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", keyDER)
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsProm starts the fake Prometheus over TLS with the PKI's server
// certificate; requireClient asks for a client certificate signed by the CA.
// It returns the server and the client certificates' common names it saw.
func tlsProm(t *testing.T, p *testPKI, requireClient bool) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var clients []string
	fake := &fakeProm{t: t, series: one(minuteValue)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			mu.Lock()
			clients = append(clients, r.TLS.PeerCertificates[0].Subject.CommonName)
			mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.serverTLS}, MinVersion: tls.VersionTLS12}
	if requireClient {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		srv.TLS.ClientCAs = p.caPool
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), clients...)
	}
}

func TestTLS(t *testing.T) {
	p := newTestPKI(t)
	mtls, clients := tlsProm(t, p, true)
	plain, _ := tlsProm(t, p, false)
	// The servers listen on 127.0.0.1; their certificate names the service.
	for _, tc := range []struct {
		name    string
		url     string
		tls     config.TLS
		wantErr string
	}{
		{"CA, server name and client certificate", mtls.URL,
			config.TLS{CAFile: p.caFile, ServerName: "prometheus.monitoring.svc", CertFile: p.clientCertFile, KeyFile: p.clientKeyFile}, ""},
		{"CA and server name", plain.URL, config.TLS{CAFile: p.caFile, ServerName: "prometheus.monitoring.svc"}, ""},
		{"insecure", plain.URL, config.TLS{InsecureSkipVerify: true}, ""},
		{"system roots do not know the CA", plain.URL, config.TLS{ServerName: "prometheus.monitoring.svc"}, "certificate signed by unknown authority"},
		{"wrong server name", plain.URL, config.TLS{CAFile: p.caFile, ServerName: "other.svc"}, "other.svc"},
		{"no client certificate", mtls.URL, config.TLS{CAFile: p.caFile, ServerName: "prometheus.monitoring.svc"}, "certificate required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := promConfig(tc.url)
			cfg.TLS = tc.tls
			src, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			s, err := src.Latest(context.Background(), "up", at, time.Minute)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if want, _ := minuteValue(at); s.Value != want {
					t.Errorf("value %v, want %v", s.Value, want)
				}
				return
			}
			wantAll(t, err, tc.url, `"up"`, tc.wantErr)
		})
	}
	if got := clients(); len(got) != 1 || got[0] != "client" {
		t.Errorf("client certificates seen = %q, want one \"client\"", got)
	}
}

func TestTLSFilesAtStart(t *testing.T) {
	p := newTestPKI(t)
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	writeFile(t, notPEM, "not a certificate", at)
	for _, tc := range []struct {
		name string
		tls  config.TLS
		want string
	}{
		{"missing CA", config.TLS{CAFile: filepath.Join(p.dir, "nope.pem")}, filepath.Join(p.dir, "nope.pem")},
		{"CA not PEM", config.TLS{CAFile: notPEM}, notPEM},
		{"key does not match", config.TLS{CertFile: p.clientCertFile, KeyFile: p.serverKey}, "private key does not match"},
		{"missing client certificate", config.TLS{CertFile: filepath.Join(p.dir, "nope.pem"), KeyFile: p.clientKeyFile}, filepath.Join(p.dir, "nope.pem")},
		{"cert without key", config.TLS{CertFile: p.clientCertFile}, "client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := promConfig("https://prometheus:9090")
			cfg.TLS = tc.tls
			if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "https://prometheus:9090") {
				t.Errorf("New error = %v, want one naming the URL and %q", err, tc.want)
			}
		})
	}
}

// TestClientCertificateReload checks that a client certificate renewed on
// disk (by cert-manager, say) is the one the next request presents, without
// a restart.
func TestClientCertificateReload(t *testing.T) {
	p := newTestPKI(t)
	srv, clients := tlsProm(t, p, true)
	cfg := promConfig(srv.URL)
	cfg.TLS = config.TLS{CAFile: p.caFile, ServerName: "prometheus.monitoring.svc", CertFile: p.clientCertFile, KeyFile: p.clientKeyFile}
	src, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	query := func() {
		t.Helper()
		if _, err := src.Latest(context.Background(), "up", at, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	query()
	renewedCert, renewedKey := p.issue(t, "client-renewed", x509.ExtKeyUsageClientAuth, "")
	for _, f := range [][2]string{{renewedCert, p.clientCertFile}, {renewedKey, p.clientKeyFile}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, f[1], string(b), at.Add(time.Minute))
	}
	query()
	if got, want := clients(), []string{"client", "client-renewed"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("client certificates seen = %q, want %q", got, want)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, raw := range []string{"prometheus:9090", "ftp://prometheus", "http://", "http://a b"} {
		if _, err := New(promConfig(raw), nil); err == nil {
			t.Errorf("New(%q) accepted the URL", raw)
		}
	}
}
