package testbed

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// pki holds the testbed's certificate authorities and the files made from
// them, wired as kubeadm wires a cluster:
//
//   - the cluster CA signs the apiserver's serving certificate and every
//     client certificate: the admin (group system:masters),
//     kube-controller-manager (system:kube-controller-manager) and
//     kube-scheduler (system:kube-scheduler) authenticate with x509 client
//     certificates, so RBAC's bootstrap roles apply to them unchanged;
//   - the front-proxy CA signs the certificate the aggregator presents to
//     aggregated APIs (--proxy-client-cert-file, --requestheader-*);
//   - an RSA key signs service-account tokens.
type pki struct {
	ca, frontProxy *certAuthority

	// files
	caFile, servingCert, servingKey, saKey, saPub string
	frontProxyCA, frontProxyCert, frontProxyKey   string
}

// certAuthority is a self-signed CA.
type certAuthority struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

// keyPair is a PEM certificate and its PEM private key.
type keyPair struct{ certPEM, keyPEM []byte }

func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	p := &pki{
		caFile: f("ca.crt"), servingCert: f("apiserver.crt"), servingKey: f("apiserver.key"),
		saKey: f("sa.key"), saPub: f("sa.pub"),
		frontProxyCA: f("front-proxy-ca.crt"), frontProxyCert: f("front-proxy-client.crt"), frontProxyKey: f("front-proxy-client.key"),
	}
	var err error
	if p.ca, err = newCertAuthority("prescaler-testbed-ca"); err != nil {
		return nil, err
	}
	if p.frontProxy, err = newCertAuthority("prescaler-testbed-front-proxy-ca"); err != nil {
		return nil, err
	}
	serving, err := p.ca.issue(newServingTemplate("kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local"))
	if err != nil {
		return nil, err
	}
	proxyClient, err := p.frontProxy.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "front-proxy-client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}

	// Service-account tokens: RSA, the algorithm every consumer accepts.
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saDER, err := x509.MarshalPKCS8PrivateKey(sa)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return nil, err
	}

	for _, file := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{p.caFile, p.ca.pem, 0o644},
		{p.servingCert, serving.certPEM, 0o644},
		{p.servingKey, serving.keyPEM, 0o600},
		{p.frontProxyCA, p.frontProxy.pem, 0o644},
		{p.frontProxyCert, proxyClient.certPEM, 0o644},
		{p.frontProxyKey, proxyClient.keyPEM, 0o600},
		{p.saKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: saDER}), 0o600},
		{p.saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644},
	} {
		if err := os.WriteFile(file.path, file.data, file.mode); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func newCertAuthority(cn string) (*certAuthority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &certAuthority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// issue signs tmpl under a fresh P-256 key, valid as long as the CA.
func (ca *certAuthority) issue(tmpl *x509.Certificate) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = ca.cert.NotBefore
	tmpl.NotAfter = ca.cert.NotAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return keyPair{}, fmt.Errorf("signing %s: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// newServingTemplate is a serving certificate for localhost and dnsNames.
func newServingTemplate(dnsNames ...string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:    append([]string{"localhost"}, dnsNames...),
	}
}

func tlsServerConfig(kp keyPair) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(kp.certPEM, kp.keyPEM)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// client issues a cluster client certificate for user in groups.
func (p *pki) client(user string, groups ...string) (keyPair, error) {
	return p.ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// kubeconfig writes a self-contained kubeconfig (certificates embedded, so
// the file can be copied) for a client certificate and returns its REST
// config.
func (p *pki) kubeconfig(path, server string, c keyPair) (*rest.Config, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testbed"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: p.ca.pem}
	cfg.AuthInfos["testbed"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.certPEM, ClientKeyData: c.keyPEM}
	cfg.Contexts["testbed"] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: "testbed"}
	cfg.CurrentContext = "testbed"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   p.ca.pem,
			CertData: c.certPEM,
			KeyData:  c.keyPEM,
		},
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
