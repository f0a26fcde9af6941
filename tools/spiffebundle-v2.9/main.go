// Command spiffebundle-check parses a SPIFFE bundle with go-spiffe, an implementation
// independent of meshtool's, and prints what it read: the cross-check of meshtool's bundle
// endpoint. Usage: spiffebundle-check TRUST_DOMAIN < bundle.json. Exit status 1 on any error.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "spiffebundle-check:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: spiffebundle-check TRUST_DOMAIN < bundle.json")
	}
	td, err := spiffeid.TrustDomainFromString(os.Args[1])
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	if err != nil {
		return err
	}
	bundle, err := spiffebundle.Parse(td, data)
	if err != nil {
		return err
	}
	fmt.Printf("trust_domain=%s\n", bundle.TrustDomain())
	fmt.Printf("x509_authorities=%d\n", len(bundle.X509Authorities()))
	if seq, ok := bundle.SequenceNumber(); ok {
		fmt.Printf("sequence=%d\n", seq)
	}
	if hint, ok := bundle.RefreshHint(); ok {
		fmt.Printf("refresh_hint=%d\n", int64(hint.Seconds()))
	}
	return nil
}
