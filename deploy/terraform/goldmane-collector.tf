# In-cluster Goldmane collection for calico-plan, as Terraform (the same
# objects as deploy/kubernetes/cronjob.yaml and deployment.yaml).
# mode = "cronjob": observe every 30 minutes (Goldmane keeps about an hour).
# mode = "follow":  one pod streaming continuously with observe --follow.

variable "calico_plan_image" {
  type        = string
  description = "Image built from deploy/Dockerfile"
  default     = "ghcr.io/calico-plan/calico-plan:latest"
}

variable "calico_plan_mode" {
  type        = string
  description = "cronjob or follow"
  default     = "cronjob"
}

locals {
  calico_plan_labels = { "app.kubernetes.io/name" = "calico-plan" }
  calico_plan_args = [
    "observe",
    "--store=/data/allowlists",
    "--goldmane=goldmane.calico-system.svc:7443",
    "--goldmane-id=goldmane.calico-system",
    "--goldmane-cert=/certs/client/tls.crt",
    "--goldmane-key=/certs/client/tls.key",
    "--goldmane-ca=/certs/ca/tls.crt",
    "--since=60m",
  ]
}

resource "kubernetes_service_account_v1" "calico_plan" {
  metadata {
    name      = "calico-plan"
    namespace = "calico-system"
    labels    = local.calico_plan_labels
  }
  automount_service_account_token = false
}

resource "kubernetes_persistent_volume_claim_v1" "calico_plan_store" {
  metadata {
    name      = "calico-plan-store"
    namespace = "calico-system"
    labels    = local.calico_plan_labels
  }
  spec {
    access_modes = ["ReadWriteOnce"]
    resources {
      requests = { storage = "1Gi" }
    }
  }
  wait_until_bound = false
}

resource "kubernetes_network_policy_v1" "calico_plan_to_goldmane" {
  metadata {
    name      = "calico-plan-to-goldmane"
    namespace = "calico-system"
    labels    = local.calico_plan_labels
  }
  spec {
    pod_selector {
      match_labels = { "k8s-app" = "goldmane" }
    }
    policy_types = ["Ingress"]
    ingress {
      from {
        pod_selector {
          match_labels = local.calico_plan_labels
        }
      }
      ports {
        port     = "7443"
        protocol = "TCP"
      }
    }
  }
}

resource "kubernetes_cron_job_v1" "calico_plan_observe" {
  count = var.calico_plan_mode == "cronjob" ? 1 : 0
  metadata {
    name      = "calico-plan-observe"
    namespace = "calico-system"
    labels    = local.calico_plan_labels
  }
  spec {
    schedule                      = "*/30 * * * *"
    concurrency_policy            = "Forbid"
    starting_deadline_seconds     = 600
    successful_jobs_history_limit = 2
    failed_jobs_history_limit     = 4
    job_template {
      metadata {
        labels = local.calico_plan_labels
      }
      spec {
        backoff_limit           = 2
        active_deadline_seconds = 1200
        template {
          metadata {
            labels = merge(local.calico_plan_labels, { "app.kubernetes.io/component" = "observe" })
          }
          spec {
            service_account_name = kubernetes_service_account_v1.calico_plan.metadata[0].name
            restart_policy       = "OnFailure"
            security_context {
              run_as_non_root = true
              run_as_user     = 65532
              run_as_group    = 65532
              fs_group        = 65532
              seccomp_profile {
                type = "RuntimeDefault"
              }
            }
            container {
              name  = "observe"
              image = var.calico_plan_image
              args  = local.calico_plan_args
              resources {
                requests = { cpu = "50m", memory = "64Mi" }
                limits   = { memory = "256Mi" }
              }
              security_context {
                allow_privilege_escalation = false
                read_only_root_filesystem  = true
                capabilities {
                  drop = ["ALL"]
                }
              }
              volume_mount {
                name       = "store"
                mount_path = "/data"
              }
              volume_mount {
                name       = "client-cert"
                mount_path = "/certs/client"
                read_only  = true
              }
              volume_mount {
                name       = "ca"
                mount_path = "/certs/ca"
                read_only  = true
              }
            }
            volume {
              name = "store"
              persistent_volume_claim {
                claim_name = kubernetes_persistent_volume_claim_v1.calico_plan_store.metadata[0].name
              }
            }
            volume {
              name = "client-cert"
              secret {
                secret_name = "node-certs"
                items {
                  key  = "tls.crt"
                  path = "tls.crt"
                }
                items {
                  key  = "tls.key"
                  path = "tls.key"
                }
              }
            }
            volume {
              name = "ca"
              secret {
                secret_name = "goldmane-key-pair"
                items {
                  key  = "tls.crt"
                  path = "tls.crt"
                }
              }
            }
          }
        }
      }
    }
  }
}

resource "kubernetes_deployment_v1" "calico_plan_follow" {
  count = var.calico_plan_mode == "follow" ? 1 : 0
  metadata {
    name      = "calico-plan-follow"
    namespace = "calico-system"
    labels    = local.calico_plan_labels
  }
  spec {
    replicas = 1
    strategy {
      type = "Recreate"
    }
    selector {
      match_labels = merge(local.calico_plan_labels, { "app.kubernetes.io/component" = "follow" })
    }
    template {
      metadata {
        labels = merge(local.calico_plan_labels, { "app.kubernetes.io/component" = "follow" })
      }
      spec {
        service_account_name             = kubernetes_service_account_v1.calico_plan.metadata[0].name
        termination_grace_period_seconds = 30
        security_context {
          run_as_non_root = true
          run_as_user     = 65532
          run_as_group    = 65532
          fs_group        = 65532
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }
        container {
          name  = "follow"
          image = var.calico_plan_image
          args  = concat(local.calico_plan_args, ["--follow", "--checkpoint=1m"])
          resources {
            requests = { cpu = "50m", memory = "64Mi" }
            limits   = { memory = "256Mi" }
          }
          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            capabilities {
              drop = ["ALL"]
            }
          }
          volume_mount {
            name       = "store"
            mount_path = "/data"
          }
          volume_mount {
            name       = "client-cert"
            mount_path = "/certs/client"
            read_only  = true
          }
          volume_mount {
            name       = "ca"
            mount_path = "/certs/ca"
            read_only  = true
          }
        }
        volume {
          name = "store"
          persistent_volume_claim {
            claim_name = kubernetes_persistent_volume_claim_v1.calico_plan_store.metadata[0].name
          }
        }
        volume {
          name = "client-cert"
          secret {
            secret_name = "node-certs"
            items {
              key  = "tls.crt"
              path = "tls.crt"
            }
            items {
              key  = "tls.key"
              path = "tls.key"
            }
          }
        }
        volume {
          name = "ca"
          secret {
            secret_name = "goldmane-key-pair"
            items {
              key  = "tls.crt"
              path = "tls.crt"
            }
          }
        }
      }
    }
  }
}
