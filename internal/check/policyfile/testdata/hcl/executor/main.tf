# The legacy kubernetes_network_policy form (stacks/executor).
resource "kubernetes_network_policy" "executor_allow_traefik_and_hermes" {
  metadata {
    name      = "executor-allow-traefik-and-hermes"
    namespace = "executor"
    labels = {
      app = "executor"
    }
  }

  spec {
    pod_selector {}
    policy_types = ["Ingress"]

    ingress {
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "traefik"
          }
        }
      }
      from {
        namespace_selector {
          match_expressions {
            key      = "kubernetes.io/metadata.name"
            operator = "In"
            values   = ["hermes", "hermes-agent"]
          }
        }
        pod_selector {
          match_expressions {
            key      = "app"
            operator = "Exists"
          }
        }
      }
      # No protocol: the provider's default, TCP. A number for port is
      # converted to a string by Terraform.
      ports {
        port = 8080
      }
      ports {
        port     = "metrics"
        protocol = "TCP"
      }
    }
  }
}

resource "kubernetes_deployment_v1" "executor" {
  metadata {
    name      = "executor"
    namespace = "executor"
  }
}
