# A hardened setup: the bucket is encrypted with a customer-managed key (created here, rotated every 90 days), keeps
# object versions and soft-deleted objects for a week, writes access logs to a separate bucket, and the module creates
# the Airflow service account (writer, BigQuery dataEditor of the dbt dataset, project jobUser).
#
#   terraform init && terraform apply -var project_id=my-project -var log_bucket=my-project-access-logs

terraform {
  required_version = ">= 1.5, < 2.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
  }
}

variable "project_id" {
  description = "Project that owns the bucket, the key and the service account."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID such as my-project."
  }
}

variable "region" {
  description = "Region of the bucket, the key ring and the BigQuery dataset (a CMEK key must be in the bucket's location)."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a region such as europe-west1."
  }
}

variable "log_bucket" {
  description = "Existing bucket that receives the artifact bucket's access logs."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.log_bucket))
    error_message = "log_bucket must be a bucket name (no gs:// scheme)."
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

resource "google_kms_key_ring" "cosmos" {
  project  = var.project_id
  name     = "cosmos-remote"
  location = var.region
}

resource "google_kms_crypto_key" "artifacts" {
  name            = "cosmos-remote-artifacts"
  key_ring        = google_kms_key_ring.cosmos.id
  rotation_period = "7776000s" # 90 days

  lifecycle {
    prevent_destroy = true
  }
}

locals {
  # Built from names rather than google_kms_crypto_key.artifacts.id: the module decides from it (kms_key_name != null)
  # whether to grant the service agents, and a resource's id is unknown until apply. Referencing the names still makes
  # the module wait for the key.
  kms_key_id = "projects/${var.project_id}/locations/${var.region}/keyRings/${google_kms_key_ring.cosmos.name}/cryptoKeys/${google_kms_crypto_key.artifacts.name}"
}

module "cosmos_artifacts" {
  source = "../.."

  project_id    = var.project_id
  bucket_name   = "${var.project_id}-cosmos-artifacts"
  location      = var.region
  kms_key_name  = local.kms_key_id
  log_bucket    = var.log_bucket
  force_destroy = false

  retention_days             = 14
  versioning_enabled         = true
  noncurrent_retention_days  = 7
  soft_delete_retention_days = 7

  create_service_account  = true
  grant_bigquery_job_user = true
  reader_members          = ["group:data-engineering@example.com"]

  bigquery_datasets = {
    analytics = {
      location = var.region
      viewers  = ["group:data-engineering@example.com"]
    }
  }
  bigquery_kms_key_name = local.kms_key_id

  labels = {
    team = "data-platform"
  }
}

output "service_account_email" {
  value = module.cosmos_artifacts.service_account_email
}

output "remote_target_path" {
  value = module.cosmos_artifacts.remote_target_path
}

output "airflow_env_var" {
  value = module.cosmos_artifacts.airflow_env_var
}

output "execution_config" {
  value = module.cosmos_artifacts.execution_config
}
