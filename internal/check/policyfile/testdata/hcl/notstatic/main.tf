variable "namespace" {
  type = string
}

locals {
  tier = "egress-allowlist"
}

resource "kubernetes_network_policy_v1" "by_variable" {
  metadata {
    name      = "egress-allowlist"
    namespace = var.namespace
  }
  spec {
    pod_selector {}
    policy_types = ["Egress"]
  }
}

resource "kubectl_manifest" "by_local" {
  yaml_body = yamlencode({
    apiVersion = "projectcalico.org/v3"
    kind       = "NetworkPolicy"
    metadata   = { name = "egress-allowlist.shop", namespace = "shop" }
    spec = {
      tier     = local.tier
      selector = "all()"
    }
  })
}

resource "kubectl_manifest" "by_interpolation" {
  yaml_body = yamlencode({
    apiVersion = "projectcalico.org/v3"
    kind       = "NetworkPolicy"
    metadata   = { name = "egress-allowlist.${module.shop.name}", namespace = "shop" }
  })
}

resource "kubectl_manifest" "by_file" {
  yaml_body = file("${path.module}/policy.yaml")
}

resource "kubernetes_manifest" "by_function" {
  manifest = {
    apiVersion = "projectcalico.org/v3"
    kind       = "GlobalNetworkPolicy"
    metadata   = { name = lower("OBSERVE") }
  }
}

resource "kubernetes_network_policy_v1" "by_for_each" {
  for_each = toset(["a", "b"])
  metadata {
    name      = "egress-allowlist"
    namespace = "shop"
  }
  spec {
    pod_selector {}
    policy_types = ["Egress"]
  }
}

resource "kubernetes_network_policy_v1" "by_dynamic" {
  metadata {
    name      = "egress-allowlist"
    namespace = "shop"
  }
  spec {
    pod_selector {}
    policy_types = ["Egress"]
    dynamic "egress" {
      for_each = var.destinations
      content {
        to {
          ip_block {
            cidr = egress.value
          }
        }
      }
    }
  }
}

resource "kubernetes_network_policy_v1" "disabled" {
  count = 0
  metadata {
    name      = "disabled"
    namespace = "shop"
  }
  spec {
    pod_selector {}
    policy_types = ["Egress"]
  }
}

resource "kubernetes_network_policy_v1" "static" {
  count = 1
  metadata {
    name      = "deny-all"
    namespace = "shop"
  }
  spec {
    pod_selector {}
    policy_types = ["Egress"]
  }
}
