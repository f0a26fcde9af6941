// Generates go_pool_compact.json and go_pool_indented.json: the reference localca pool format
// written by Go itself. Run with: go run gen_go_pool.go (stdlib only, Go 1.24+).
// Emits a CA pool in the reference localca format (serializedPool), as Go's encoding/json writes it.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"os"
	"time"
)

type serializedPool struct {
	CAs []*serializedCA
}
type serializedCA struct {
	ID                          string
	SigningKeyPKCS8             []byte
	RootCertificateDER          []byte
	IntermediateCertificatesDER [][]byte
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	nb := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	na := time.Date(2035, 6, 1, 0, 0, 0, 0, time.UTC)

	// CA "1": like localca.GenerateED25519CA (empty subject), fixed validity.
	pub1, priv1, err := ed25519.GenerateKey(rand.Reader)
	must(err)
	t1 := &x509.Certificate{NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	root1, err := x509.CreateCertificate(rand.Reader, t1, t1, pub1, priv1)
	must(err)
	k1, err := x509.MarshalPKCS8PrivateKey(priv1)
	must(err)

	// CA "2": ECDSA P-256 root and one intermediate; the intermediate's key signs.
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	t2 := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "go root 2"},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	root2, err := x509.CreateCertificate(rand.Reader, t2, t2, rootKey.Public(), rootKey)
	must(err)
	root2c, err := x509.ParseCertificate(root2)
	must(err)
	intKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	ti := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "go intermediate 2"},
		NotBefore: nb, NotAfter: na.Add(-time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	inter, err := x509.CreateCertificate(rand.Reader, ti, root2c, intKey.Public(), crypto.Signer(rootKey))
	must(err)
	k2, err := x509.MarshalPKCS8PrivateKey(intKey)
	must(err)

	pool := &serializedPool{CAs: []*serializedCA{
		{ID: "1", SigningKeyPKCS8: k1, RootCertificateDER: root1},
		{ID: "2", SigningKeyPKCS8: k2, RootCertificateDER: root2, IntermediateCertificatesDER: [][]byte{inter}},
	}}
	compact, err := json.Marshal(pool)
	must(err)
	indented, err := json.MarshalIndent(pool, "", "  ")
	must(err)
	must(os.WriteFile("go_pool_compact.json", compact, 0o644))
	must(os.WriteFile("go_pool_indented.json", append(indented, '\n'), 0o644))
}
