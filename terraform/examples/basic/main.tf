# The smallest useful setup: a private artifact bucket, the existing Airflow worker service account as the writer and
# a group of engineers who may read the generated SQL.
#
#   terraform init && terraform apply -var project_id=my-project
#   terraform output -raw airflow_env_var   # paste into the Airflow deployment's environment

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
  description = "Project that owns the bucket."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID such as my-project."
  }
}

provider "google" {
  project = var.project_id
}

module "cosmos_artifacts" {
  source = "../.."

  project_id     = var.project_id
  bucket_name    = "${var.project_id}-cosmos-artifacts"
  location       = "EU"
  retention_days = 30

  writer_members = ["serviceAccount:airflow-worker@${var.project_id}.iam.gserviceaccount.com"]
  reader_members = ["group:data-engineering@example.com"]

  labels = {
    team = "data-platform"
  }
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
