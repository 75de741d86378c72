resource "kubernetes_network_policy_v1" "bad" {
  metadata {
    name = "bad"
  }
  spec {
    policy_types = ["Egress"
  }
}
