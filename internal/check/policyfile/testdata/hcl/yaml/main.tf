# yaml_body as YAML text rather than yamlencode.
resource "kubectl_manifest" "staged_heredoc" {
  yaml_body = <<-YAML
    apiVersion: projectcalico.org/v3
    kind: StagedNetworkPolicy
    metadata:
      name: egress-allowlist.shop
      namespace: shop
    spec:
      stagedAction: Set
      tier: egress-allowlist
      order: 100
      selector: all()
      types: [Egress]
      egress:
        - action: Allow
          protocol: UDP
          destination:
            nets: [10.96.0.10/32]
            ports: [53]
        - action: Deny
  YAML
}

resource "kubectl_manifest" "netset_string" {
  override_namespace = "shop"
  yaml_body          = "apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata:\n  name: telegram\nspec:\n  nets:\n  - 149.154.160.0/20\n"
}

resource "kubectl_manifest" "two_documents" {
  yaml_body = <<-YAML
    apiVersion: projectcalico.org/v3
    kind: GlobalNetworkSet
    metadata:
      name: a
    ---
    apiVersion: projectcalico.org/v3
    kind: GlobalNetworkSet
    metadata:
      name: b
  YAML
}

resource "kubectl_manifest" "k8s_policy_as_yaml" {
  yaml_body = jsonencode({
    apiVersion = "networking.k8s.io/v1"
    kind       = "NetworkPolicy"
    metadata = {
      name        = "deny-all"
      namespace   = "shop"
      annotations = { "calico-plan.io/rules" = jsonencode({ b = [1, 2], a = "<x>" }) }
    }
    spec = { podSelector = {}, policyTypes = ["Egress", "Ingress"] }
  })
}
