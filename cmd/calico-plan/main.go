package main

import (
	"fmt"

	v3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	networkingv1 "k8s.io/api/networking/v1"
	_ "k8s.io/client-go/kubernetes"
)

func main() { fmt.Println(v3.KindNetworkPolicy, networkingv1.PolicyTypeEgress) }
