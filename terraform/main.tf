# GCS bucket for cosmos_remote SQL artifacts: {remote_target_path}/{dag_id}[/{task_group}]/{run_id}/... with an
# index.json per run. Private (uniform bucket-level access, public access prevention enforced), self-cleaning (a
# lifecycle rule deletes artifacts after var.retention_days), least-privilege bucket-level IAM.

# ---------------------------------------------------------------------------------------------------------------------
# Optional CMEK: the project's Cloud Storage service agent must be able to use the key before the bucket is created.
# ---------------------------------------------------------------------------------------------------------------------

data "google_storage_project_service_account" "gcs" {
  count   = var.kms_key_name != null && var.grant_kms_to_service_agents ? 1 : 0
  project = var.project_id
}

resource "google_kms_crypto_key_iam_member" "gcs_agent" {
  count         = var.kms_key_name != null && var.grant_kms_to_service_agents ? 1 : 0
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_storage_project_service_account.gcs[0].email_address}"
}

# ---------------------------------------------------------------------------------------------------------------------
# The bucket
# ---------------------------------------------------------------------------------------------------------------------

resource "google_storage_bucket" "artifacts" {
  # checkov:skip=CKV_GCP_62: access logging is opt-in through var.log_bucket (the logging block below); Cloud Audit Data Access logs are the usual record of reads.
  # checkov:skip=CKV_GCP_78: artifacts are write-once under a unique run_id path and writers cannot overwrite; versioning is opt-in through var.versioning_enabled.
  project       = var.project_id
  name          = var.bucket_name
  location      = var.location
  storage_class = var.storage_class
  labels        = local.labels
  force_destroy = var.force_destroy

  # Never public, IAM only (no object ACLs).
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = var.versioning_enabled
  }

  # 0 turns soft delete off; otherwise deleted artifacts stay restorable (and billed) this long.
  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_retention_days * 86400
  }

  # The teardown: every artifact is deleted retention_days after it was written.
  lifecycle_rule {
    condition {
      age = var.retention_days
    }
    action {
      type = "Delete"
    }
  }

  # Parts of uploads that never completed (a worker killed mid-upload) are not objects and need their own rule.
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.versioning_enabled ? [var.noncurrent_retention_days] : []
    content {
      condition {
        days_since_noncurrent_time = lifecycle_rule.value
        with_state                 = "ARCHIVED"
      }
      action {
        type = "Delete"
      }
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  dynamic "logging" {
    for_each = var.log_bucket == null ? [] : [var.log_bucket]
    content {
      log_bucket        = logging.value
      log_object_prefix = var.bucket_name
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.gcs_agent]
}

# ---------------------------------------------------------------------------------------------------------------------
# Optional: service account for the Airflow workers (a writer; see local.writers)
# ---------------------------------------------------------------------------------------------------------------------

resource "google_service_account" "airflow" {
  count        = var.create_service_account ? 1 : 0
  project      = var.project_id
  account_id   = var.service_account_id
  display_name = "cosmos_remote Airflow workers"
  description  = "Publishes dbt SQL artifacts to gs://${var.bucket_name} and runs the BigQuery jobs of cosmos_remote DAGs."
}

resource "google_project_iam_member" "airflow_bigquery_job_user" {
  count   = var.create_service_account && var.grant_bigquery_job_user ? 1 : 0
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = local.service_account_member

  depends_on = [google_service_account.airflow]
}

# ---------------------------------------------------------------------------------------------------------------------
# Bucket IAM: bucket-level, non-authoritative bindings. Writers: objectCreator + objectViewer (+ the delete-only custom
# role with allow_writer_delete). Readers: objectViewer.
# ---------------------------------------------------------------------------------------------------------------------

resource "google_project_iam_custom_role" "writer_delete" {
  count       = var.allow_writer_delete ? 1 : 0
  project     = var.project_id
  role_id     = var.writer_delete_role_id
  title       = "cosmos_remote artifact deleter"
  description = "Delete (and so overwrite) objects; bound on the cosmos_remote artifact bucket only."
  permissions = ["storage.objects.delete"]
}

resource "google_storage_bucket_iam_member" "bucket" {
  for_each = local.bucket_bindings
  bucket   = google_storage_bucket.artifacts.name
  role     = each.value.role
  member   = each.value.member

  depends_on = [google_project_iam_custom_role.writer_delete, google_service_account.airflow]
}

# ---------------------------------------------------------------------------------------------------------------------
# Optional: BigQuery datasets for the dbt models, with dataset-level IAM (and CMEK, whose key the BigQuery service agent
# must be able to use first)
# ---------------------------------------------------------------------------------------------------------------------

data "google_bigquery_default_service_account" "bq" {
  count   = length(var.bigquery_datasets) > 0 && var.bigquery_kms_key_name != null && var.grant_kms_to_service_agents ? 1 : 0
  project = var.project_id
}

resource "google_kms_crypto_key_iam_member" "bigquery_agent" {
  count         = length(var.bigquery_datasets) > 0 && var.bigquery_kms_key_name != null && var.grant_kms_to_service_agents ? 1 : 0
  crypto_key_id = var.bigquery_kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_bigquery_default_service_account.bq[0].email}"
}

resource "google_bigquery_dataset" "datasets" {
  # checkov:skip=CKV_GCP_81: CMEK for datasets is opt-in through var.bigquery_kms_key_name (the default_encryption_configuration block below).
  for_each                    = var.bigquery_datasets
  project                     = var.project_id
  dataset_id                  = each.key
  location                    = each.value.location
  description                 = each.value.description
  default_table_expiration_ms = each.value.default_table_expiration_days == null ? null : each.value.default_table_expiration_days * 86400000
  delete_contents_on_destroy  = each.value.delete_contents_on_destroy
  labels                      = merge(local.labels, each.value.labels)

  dynamic "default_encryption_configuration" {
    for_each = var.bigquery_kms_key_name == null ? [] : [var.bigquery_kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.bigquery_agent]
}

resource "google_bigquery_dataset_iam_member" "datasets" {
  for_each   = local.dataset_bindings
  project    = var.project_id
  dataset_id = google_bigquery_dataset.datasets[each.value.dataset_id].dataset_id
  role       = each.value.role
  member     = each.value.member

  depends_on = [google_service_account.airflow]
}
