package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The object mix: of every 10 objects, 4 config maps, 4 secrets (each
// with about 1 KiB of data), 1 deployment and 1 service.
var kinds = []string{"configmaps", "configmaps", "configmaps", "configmaps", "secrets", "secrets", "secrets", "secrets", "deployments", "services"}

func nsName(i int) string { return fmt.Sprintf("bench-%02d", i) }

// populate creates objects number from..to-1 (spread round-robin over the
// namespaces, which it creates when from is 0) with parallel creates.
func populate(ctx context.Context, cs *kubernetes.Clientset, namespaces, from, to, workers int) (time.Duration, error) {
	begin := time.Now()
	if from == 0 {
		for i := range namespaces {
			_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i)}}, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				return 0, err
			}
		}
	}
	jobs := make(chan int, workers)
	var wg sync.WaitGroup
	var failed firstError
	var done atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := create(ctx, cs, namespaces, i); err != nil && !apierrors.IsAlreadyExists(err) {
					failed.set(err)
				}
				if n := done.Add(1); n%10000 == 0 {
					logf("created %d of %d objects", from+int(n), to)
				}
			}
		}()
	}
	for i := from; i < to && failed.get() == nil && ctx.Err() == nil; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := failed.get(); err != nil {
		return 0, fmt.Errorf("populate: %w", err)
	}
	return time.Since(begin), ctx.Err()
}

var payload = strings.Repeat("0123456789abcdef", 64) // 1 KiB

func create(ctx context.Context, cs *kubernetes.Clientset, namespaces, i int) error {
	ns := nsName(i % namespaces)
	name := fmt.Sprintf("obj-%06d", i)
	labels := map[string]string{"app": name, "bench": "cluster"}
	om := metav1.ObjectMeta{Name: name, Labels: labels}
	var err error
	switch kinds[i%len(kinds)] {
	case "configmaps":
		_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: om, Data: map[string]string{"payload": payload}}, metav1.CreateOptions{})
	case "secrets":
		_, err = cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: om, StringData: map[string]string{"payload": payload}}, metav1.CreateOptions{})
	case "deployments":
		one := int32(1)
		_, err = cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: om, Spec: appsv1.DeploymentSpec{
			Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "registry.example.com/app:1.0", Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
					Env: []corev1.EnvVar{{Name: "MODE", Value: "production"}},
				}}},
			},
		}}, metav1.CreateOptions{})
	case "services":
		_, err = cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: om, Spec: corev1.ServiceSpec{
			Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 80}},
		}}, metav1.CreateOptions{})
	}
	return err
}
