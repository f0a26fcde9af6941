// pcr-ceiling: the benchmark's status-write ceiling, written the way a well-written Go
// controller would write: client-go, client-side rate limit lifted, N concurrent writers.
//
// It watches PodCertificateRequests of one signer in one namespace (list, then watch from the
// list's resourceVersion) and, for every request named in the statuses file, sets that
// precomputed status and calls UpdateStatus once. Nothing is signed here: the statuses were
// computed before the requests existed, so what it measures is what the apiserver (and the
// client) can take. It prints "ready" once the watch is open, then one JSON line when all
// statuses are written: {"written": n, "last_write_unix": t, "conflicts": c, "errors": e}.
// It gives up (exit 1) after --timeout. With --sign-ca it is the benchmark's reference Go
// controller instead (signer.go).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

type result struct {
	Written       int64   `json:"written"`
	LastWriteUnix float64 `json:"last_write_unix"`
	Conflicts     int64   `json:"conflicts"`
	Errors        int64   `json:"errors"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig path")
	namespace := flag.String("namespace", "", "namespace of the requests")
	signer := flag.String("signer", "", "spec.signerName to watch")
	version := flag.String("version", "v1", "certificates.k8s.io version")
	statusesPath := flag.String("statuses", "", "JSON file: {name: status}")
	concurrency := flag.Int("concurrency", 64, "concurrent writers")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	http1 := flag.Bool("http1", false, "HTTP/1.1 with a connection per writer instead of one HTTP/2 connection")
	signCA := flag.String("sign-ca", "", "be the reference controller (signer.go), signing with this CA (PEM certificate and PKCS#8 key)")
	expect := flag.Int("expect", 0, "with --sign-ca: exit once this many requests are Issued")
	flag.Parse()
	if *signCA != "" {
		if err := sign(*kubeconfig, *namespace, *signer, *signCA, *concurrency, *expect, *timeout); err != nil {
			fmt.Fprintln(os.Stderr, "pcr-ceiling: signer:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*kubeconfig, *namespace, *signer, *version, *statusesPath, *concurrency, *timeout, *http1); err != nil {
		fmt.Fprintln(os.Stderr, "pcr-ceiling:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, namespace, signer, version, statusesPath string, concurrency int, timeout time.Duration, http1 bool) error {
	statuses, err := readStatuses(statusesPath)
	if err != nil {
		return err
	}
	config, err := unthrottled(kubeconfig)
	if err != nil {
		return err
	}
	if http1 {
		config.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return err
	}
	gvr := schema.GroupVersionResource{Group: "certificates.k8s.io", Version: version, Resource: "podcertificaterequests"}
	api := client.Resource(gvr).Namespace(namespace)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	work := make(chan *unstructured.Unstructured, len(statuses))
	var res result
	var wg sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for obj := range work {
				write(ctx, api, obj, statuses[obj.GetName()], &res)
			}
		}()
	}
	err = feed(ctx, api, "spec.signerName="+signer, statuses, work)
	close(work)
	wg.Wait()
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(&res)
}

func sign(kubeconfig, namespace, signer, caPath string, workers, expect int, timeout time.Duration) error {
	config, err := unthrottled(kubeconfig)
	if err != nil {
		return err
	}
	return runSigner(config, namespace, signer, caPath, workers, expect, timeout)
}

// unthrottled is the kubeconfig's client configuration with client-go's rate limit lifted.
func unthrottled(kubeconfig string) (*rest.Config, error) {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	config.QPS = -1 // no client-side rate limit
	config.Burst = -1
	return config, nil
}

func readStatuses(path string) (map[string]map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	statuses := map[string]map[string]interface{}{}
	if err := json.Unmarshal(data, &statuses); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return statuses, nil
}

// feed lists, then watches, and sends every wanted request once to the writers.
func feed(ctx context.Context, api dynamic.ResourceInterface, selector string,
	statuses map[string]map[string]interface{}, work chan<- *unstructured.Unstructured) error {
	sent := map[string]bool{}
	send := func(obj *unstructured.Unstructured) {
		name := obj.GetName()
		if _, wanted := statuses[name]; wanted && !sent[name] {
			sent[name] = true
			work <- obj
		}
	}
	list, err := api.List(ctx, metav1.ListOptions{FieldSelector: selector})
	if err != nil {
		return err
	}
	for i := range list.Items {
		send(&list.Items[i])
	}
	rv := list.GetResourceVersion()
	fmt.Println("ready")
	for len(sent) < len(statuses) {
		w, err := api.Watch(ctx, metav1.ListOptions{FieldSelector: selector, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			return err
		}
		rv, err = drain(w, send, rv, func() bool { return len(sent) >= len(statuses) })
		w.Stop()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func drain(w watch.Interface, send func(*unstructured.Unstructured), rv string, done func() bool) (string, error) {
	for event := range w.ResultChan() {
		if event.Type == watch.Error {
			return rv, apierrors.FromObject(event.Object)
		}
		obj, ok := event.Object.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		rv = obj.GetResourceVersion()
		if event.Type == watch.Added || event.Type == watch.Modified {
			send(obj)
		}
		if done() {
			break
		}
	}
	return rv, nil
}

func write(ctx context.Context, api dynamic.ResourceInterface, obj *unstructured.Unstructured,
	status map[string]interface{}, res *result) {
	for attempt := 0; attempt < 5; attempt++ {
		obj.Object["status"] = status
		_, err := api.UpdateStatus(ctx, obj, metav1.UpdateOptions{})
		if err == nil {
			atomic.AddInt64(&res.Written, 1)
			storeMax(&res.LastWriteUnix, float64(time.Now().UnixNano())/1e9)
			return
		}
		if !apierrors.IsConflict(err) {
			atomic.AddInt64(&res.Errors, 1)
			fmt.Fprintln(os.Stderr, "pcr-ceiling:", obj.GetName(), err)
			return
		}
		atomic.AddInt64(&res.Conflicts, 1)
		fresh, err := api.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			atomic.AddInt64(&res.Errors, 1)
			return
		}
		obj = fresh
	}
}

var maxMu sync.Mutex

func storeMax(target *float64, value float64) {
	maxMu.Lock()
	defer maxMu.Unlock()
	if value > *target {
		*target = value
	}
}
