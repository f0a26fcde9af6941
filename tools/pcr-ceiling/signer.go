// The reference controller (--sign-ca): what meshtool's CPU per certificate is compared with.
//
// It is the canonical client-go signer, as a platform team would write one for certificates/v1
// PodCertificateRequests: a typed clientset (client-go's defaults, JSON on the wire, the client
// rate limit lifted), a SharedInformerFactory filtered to one signer and namespace, a
// rate-limited work queue, N workers. Each worker reads the request from the lister, skips it
// when it already has a terminal condition, takes the key from spec.stubPKCS10Request, signs a
// SPIFFE-style leaf (URI SAN, empty Subject, critical SAN, KeyUsage digitalSignature, both
// EKUs, at most 24 h, backdated 2 min) with the CA from the --sign-ca file, and calls
// UpdateStatus once. It checks nothing beyond that: no identity cross-checks against pods, no
// metrics, no pre-write validation, so its CPU per request is a floor for a Go controller.
//
// It prints "ready" once its cache has synced, then, when --expect requests are Issued by it,
// one JSON line: {"written": n, "last_write_unix": t, "cpu_seconds": c, "errors": e}, where
// cpu_seconds is the process's user+system CPU from "ready" to the last write.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listers "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

type signerResult struct {
	Written       int64   `json:"written"`
	LastWriteUnix float64 `json:"last_write_unix"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	Errors        int64   `json:"errors"`
}

type issuer struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type controller struct {
	client  kubernetes.Interface
	lister  listers.PodCertificateRequestLister
	queue   workqueue.TypedRateLimitingInterface[string]
	ca      issuer
	written atomic.Int64
	errs    atomic.Int64
	lastMu  sync.Mutex
	last    time.Time
}

func runSigner(config *rest.Config, namespace, signer, caPath string, workers, expect int, timeout time.Duration) error {
	ca, err := readIssuer(caPath)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.signerName=" + signer }))
	informer := factory.Certificates().V1().PodCertificateRequests()
	c := &controller{
		client: client,
		lister: informer.Lister(),
		queue:  workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		ca:     ca,
	}
	enqueue := func(obj interface{}) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj interface{}) { enqueue(obj) },
	}); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.Informer().HasSynced) {
		return errors.New("cache did not sync")
	}
	cpu0 := cpuSeconds()
	fmt.Println("ready")
	for i := 0; i < workers; i++ {
		go c.work(ctx)
	}
	for c.written.Load() < int64(expect) {
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d written before the timeout", c.written.Load(), expect)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cpu := cpuSeconds() - cpu0
	c.queue.ShutDown()
	c.lastMu.Lock()
	last := float64(c.last.UnixNano()) / 1e9
	c.lastMu.Unlock()
	res := signerResult{Written: c.written.Load(), LastWriteUnix: last, CPUSeconds: cpu, Errors: c.errs.Load()}
	return json.NewEncoder(os.Stdout).Encode(&res)
}

func (c *controller) work(ctx context.Context) {
	for {
		key, shutdown := c.queue.Get()
		if shutdown {
			return
		}
		if err := c.reconcile(ctx, key); err != nil {
			c.errs.Add(1)
			fmt.Fprintln(os.Stderr, "pcr-ceiling: signer:", key, err)
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

func (c *controller) reconcile(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	pcr, err := c.lister.PodCertificateRequests(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	if terminal(pcr) {
		return nil
	}
	status, err := c.sign(pcr, time.Now())
	if err != nil {
		return err
	}
	update := pcr.DeepCopy()
	update.Status = status
	if _, err := c.client.CertificatesV1().PodCertificateRequests(namespace).UpdateStatus(ctx, update, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return nil // a newer version is on its way through the informer
		}
		return err
	}
	c.written.Add(1)
	c.lastMu.Lock()
	c.last = time.Now()
	c.lastMu.Unlock()
	return nil
}

func terminal(pcr *certv1.PodCertificateRequest) bool {
	for _, cond := range pcr.Status.Conditions {
		switch cond.Type {
		case certv1.PodCertificateRequestConditionTypeIssued, certv1.PodCertificateRequestConditionTypeDenied, certv1.PodCertificateRequestConditionTypeFailed:
			return true
		}
	}
	return false
}

func (c *controller) sign(pcr *certv1.PodCertificateRequest, now time.Time) (certv1.PodCertificateRequestStatus, error) {
	csr, err := x509.ParseCertificateRequest(pcr.Spec.StubPKCS10Request)
	if err != nil {
		return certv1.PodCertificateRequestStatus{}, err
	}
	notBefore := now.UTC().Truncate(time.Second).Add(-2 * time.Minute)
	lifetime := 24 * time.Hour
	if m := pcr.Spec.MaxExpirationSeconds; m != nil && time.Duration(*m)*time.Second < lifetime {
		lifetime = time.Duration(*m) * time.Second
	}
	notAfter := notBefore.Add(lifetime)
	spiffeID := &url.URL{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/" + pcr.Namespace + "/sa/" + pcr.Spec.ServiceAccountName}
	der, err := c.leaf(csr.PublicKey, spiffeID, notBefore, notAfter)
	if err != nil {
		return certv1.PodCertificateRequestStatus{}, err
	}
	refresh := metav1.NewTime(notBefore.Add(lifetime / 2))
	return certv1.PodCertificateRequestStatus{
		Conditions: []metav1.Condition{{
			Type:               certv1.PodCertificateRequestConditionTypeIssued,
			Status:             metav1.ConditionTrue,
			Reason:             "Issued",
			Message:            "Certificate issued",
			LastTransitionTime: metav1.NewTime(now.UTC().Truncate(time.Second)),
		}},
		CertificateChain: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		NotBefore:        ptr(metav1.NewTime(notBefore)),
		NotAfter:         ptr(metav1.NewTime(notAfter)),
		BeginRefreshAt:   &refresh,
	}, nil
}

func (c *controller) leaf(pub interface{}, id *url.URL, notBefore, notAfter time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	ski := sha1.Sum(spki)
	template := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		URIs:                  []*url.URL{id},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski[:],
	}
	return x509.CreateCertificate(rand.Reader, template, c.ca.cert, pub, c.ca.key)
}

func readIssuer(path string) (issuer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return issuer{}, err
	}
	var out issuer
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		switch block.Type {
		case "CERTIFICATE":
			out.cert, err = x509.ParseCertificate(block.Bytes)
		case "PRIVATE KEY":
			var key interface{}
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
			if signer, ok := key.(crypto.Signer); ok {
				out.key = signer
			}
		}
		if err != nil {
			return issuer{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	if out.cert == nil || out.key == nil {
		return issuer{}, fmt.Errorf("%s: want a CERTIFICATE and a PKCS#8 PRIVATE KEY block", path)
	}
	return out, nil
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
}

func ptr[T any](v T) *T { return &v }
