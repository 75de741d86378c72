resource "kubernetes_manifest" "tier" {
  manifest = {
    apiVersion = "projectcalico.org/v3"
    kind       = "Tier"
    metadata   = { name = "egress-allowlist" }
    spec       = { order = 500, defaultAction = "Deny" }
  }
}
