package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// listAll is the lower bound: paginated LISTs (limit 500) of every object
// of the benchmark's kinds in every namespace, workers at a time, reading
// the JSON and discarding it. It returns the time and the object count.
func listAll(ctx context.Context, cfg *rest.Config, namespaces, workers int) (time.Duration, int64, error) {
	c := rest.CopyConfig(cfg)
	c.ContentType, c.AcceptContentTypes = "application/json", "application/json"
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return 0, 0, err
	}
	rc := cs.CoreV1().RESTClient()
	type job struct{ path string }
	jobs := make(chan job)
	var wg sync.WaitGroup
	var failed firstError
	var objects atomic.Int64
	begin := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				n, err := listPages(ctx, rc, j.path)
				objects.Add(n)
				if err != nil {
					failed.set(err)
				}
			}
		}()
	}
	for i := range namespaces {
		for _, p := range []string{"/api/v1/namespaces/%s/configmaps", "/api/v1/namespaces/%s/secrets",
			"/apis/apps/v1/namespaces/%s/deployments", "/api/v1/namespaces/%s/services"} {
			jobs <- job{fmt.Sprintf(p, nsName(i))}
		}
	}
	close(jobs)
	wg.Wait()
	if err := failed.get(); err != nil {
		return 0, 0, err
	}
	return time.Since(begin), objects.Load(), nil
}

// listPages lists one path to the end and returns the number of objects.
func listPages(ctx context.Context, rc rest.Interface, path string) (int64, error) {
	var n int64
	cont := ""
	for {
		req := rc.Get().AbsPath(path).Param("limit", "500").SetHeader("Accept", "application/json")
		if cont != "" {
			req = req.Param("continue", cont)
		}
		body, err := req.Stream(ctx)
		if err != nil {
			return n, err
		}
		var page struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []struct{} `json:"items"`
		}
		err = decodeJSON(body, &page)
		_ = body.Close()
		if err != nil {
			return n, err
		}
		n += int64(len(page.Items))
		if cont = page.Metadata.Continue; cont == "" {
			return n, nil
		}
	}
}

func mib(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 0, 64) + " MiB" }

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
