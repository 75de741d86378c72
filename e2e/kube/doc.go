// Package kube holds the end-to-end tests against a real Kubernetes API
// server (build tag e2e, run by 'make e2e-kube'): etcd from Debian's
// etcd-server package and kube-apiserver built from the k8s.io/kubernetes
// source modules (e2e/tools), Calico's CRDs from the tigera/operator module,
// and the calico-plan binary and kubectl run as a user runs them.
package kube
