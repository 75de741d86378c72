package policy

import (
	"bytes"
	"testing"
)

// FuzzLoad feeds arbitrary manifests to the loader: it must never panic,
// every problem must be an *Error, and whatever loads must compile into an
// evaluator that can replay a flow.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		validNP, observeGNP, k8sDenyAllEgress,
		"apiVersion: v1\nkind: List\nitems: [{apiVersion: projectcalico.org/v3, kind: Tier, metadata: {name: t}, spec: {order: 1}}]",
		"apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: s, labels: {a: b}}\nspec: {nets: [10.0.0.0/8]}",
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}], ports: [{port: http}, {port: 80, endPort: 90}]}]}",
		"{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"x\"},\"spec\":{\"egress\":[{\"action\":\"Allow\",\"protocol\":\"TCP\",\"destination\":{\"ports\":[\"1:2\",\"http\"],\"selector\":\"has(a)\"}}]}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, errs := (&Loader{AllowInvalid: true}).Load(bytes.NewReader(data), "fuzz.yaml")
		for _, err := range errs {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
		}
		ev, err := NewEvaluator(set, Config{})
		if err != nil {
			t.Fatal(err)
		}
		ev.Evaluate(tcp(pod("default", "app", "web"), pod("default"), 80))
	})
}
