// Package kube holds calico-plan's small client-go helpers: loading a REST
// config, and reaching Goldmane (certificates from secrets, port-forward).
package kube

import (
	"errors"
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RESTConfig loads a client configuration with kubectl's rules: the given
// kubeconfig path if any, else the KUBECONFIG list, else ~/.kube/config,
// else the in-cluster service account. context selects a kubeconfig
// context other than the current one.
func RESTConfig(kubeconfig, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errors.New("kube: no Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a cluster")
		}
		return nil, fmt.Errorf("kube: load configuration: %w", err)
	}
	return cfg, nil
}
