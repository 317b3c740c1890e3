output "bucket_name" {
  description = "Name of the artifact bucket."
  value       = google_storage_bucket.artifacts.name
}

output "bucket_url" {
  description = "gs:// URL of the artifact bucket."
  value       = google_storage_bucket.artifacts.url
}

# The three settings below are built from the inputs, so they are known at plan time; depends_on makes anything that
# consumes them wait until the bucket exists.
output "remote_target_path" {
  description = "The cosmos_remote remote_target_path: gs://<bucket>/<prefix>."
  value       = local.remote_target_path
  depends_on  = [google_storage_bucket.artifacts]
}

output "airflow_env_var" {
  description = "Ready-to-paste Airflow setting (environment variable) that points cosmos_remote at the bucket."
  value       = local.airflow_env_var
  depends_on  = [google_storage_bucket.artifacts]
}

output "execution_config" {
  description = "Ready-to-paste DAG argument, for a DAG that sets the path itself instead of the Airflow setting."
  value       = local.execution_config
  depends_on  = [google_storage_bucket.artifacts]
}

output "writer_members" {
  description = "Principals granted write (create + read) on the bucket, including the created service account."
  value       = local.writers
}

output "reader_members" {
  description = "Principals granted read-only access to the bucket."
  value       = local.readers
}

output "service_account_email" {
  description = "Email of the Airflow service account, or null when create_service_account is false."
  value       = var.create_service_account ? google_service_account.airflow[0].email : null
}

output "bigquery_dataset_ids" {
  description = "Fully qualified IDs (projects/P/datasets/D) of the created BigQuery datasets, keyed by dataset_id."
  value       = { for id, ds in google_bigquery_dataset.datasets : id => ds.id }
}
