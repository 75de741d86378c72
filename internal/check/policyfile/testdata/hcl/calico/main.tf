# The target cluster's stacks/calico shapes: the observe GlobalNetworkPolicy
# (kubectl_manifest + yamlencode, apply_only) and the Whisker NetworkPolicies
# (kubernetes_network_policy_v1).

variable "calico_version" {
  type    = string
  default = "3.30.0"
}

resource "helm_release" "calico" {
  name       = "calico"
  repository = "https://docs.tigera.io/calico/charts"
  chart      = "tigera-operator"
  version    = var.calico_version
  namespace  = "tigera-operator"
}

resource "kubectl_manifest" "wave1_egress_observe_tier34" {
  apply_only = true
  yaml_body = yamlencode({
    apiVersion = "projectcalico.org/v3"
    kind       = "GlobalNetworkPolicy"
    metadata = {
      name = "wave1-egress-observe-tier34"
      annotations = {
        "security.viktorbarzin.me/wave"    = "1"
        "security.viktorbarzin.me/purpose" = "Log tier 3 and 4 egress before enforcing (wave 1)"
      }
    }
    spec = {
      order             = 2000
      selector          = "all()"
      namespaceSelector = "tier in {\"3-edge\", \"4-aux\"}"
      types             = ["Egress"]
      egress            = [{ action = "Log" }, { action = "Allow" }]
    }
  })
  depends_on = [helm_release.calico]
}

resource "kubernetes_network_policy_v1" "whisker_allow_traefik" {
  metadata {
    name      = "whisker-allow-traefik"
    namespace = "calico-system"
  }
  spec {
    pod_selector {
      match_labels = { "k8s-app" = "whisker" }
    }
    policy_types = ["Ingress"]
    ingress {
      from {
        namespace_selector {
          match_labels = { "kubernetes.io/metadata.name" = "traefik" }
        }
      }
      ports {
        port     = "8081"
        protocol = "TCP"
      }
    }
  }
  depends_on = [helm_release.calico]
}

resource "kubernetes_network_policy_v1" "whisker_allow_dns_clusterip" {
  metadata {
    name      = "whisker-allow-dns-clusterip"
    namespace = "calico-system"
  }
  spec {
    pod_selector {
      match_labels = { "k8s-app" = "whisker" }
    }
    policy_types = ["Egress"]
    egress {
      to {
        ip_block {
          cidr = "10.96.0.10/32"
        }
      }
      ports {
        port     = "53"
        protocol = "UDP"
      }
      ports {
        port     = "53"
        protocol = "TCP"
      }
    }
  }
}

# Not a policy: ignored, although its body is not statically known.
resource "kubectl_manifest" "goldmane_exporter" {
  yaml_body = <<-YAML
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: goldmane-exporter
      namespace: calico-system
    spec:
      template:
        spec:
          containers:
            - name: exporter
              image: ${var.exporter_image}
  YAML
}

resource "kubectl_manifest" "felix_configuration" {
  yaml_body = yamlencode({
    apiVersion = "projectcalico.org/v3"
    kind       = "FelixConfiguration"
    metadata   = { name = "default" }
    spec       = { flowLogsFlushInterval = local.flush }
  })
}
