# Values computed from the input variables only (no resource attributes), so every for_each key below is known at
# plan time and the outputs are known before apply. tests/terraform evaluates these offline with `terraform console`.
locals {
  remote_target_path = var.prefix == "" ? "gs://${var.bucket_name}" : "gs://${var.bucket_name}/${var.prefix}"

  # Ready-to-paste Airflow settings.
  airflow_env_var  = "AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH=${local.remote_target_path}"
  execution_config = "ExecutionConfig(remote_target_path=\"${local.remote_target_path}\")"

  labels = merge(var.labels, { component = "cosmos-remote-artifacts" })

  service_account_email  = "${var.service_account_id}@${var.project_id}.iam.gserviceaccount.com"
  service_account_member = "serviceAccount:${local.service_account_email}"
  writer_delete_role     = "projects/${var.project_id}/roles/${var.writer_delete_role_id}"

  # Writers publish new objects only: objectCreator (create) + objectViewer (get, list). Without delete, Cloud Storage
  # refuses to overwrite an existing object, so published artifacts cannot be replaced. Delete (which overwriting also
  # needs) comes only from the opt-in custom role.
  writer_roles = concat(
    ["roles/storage.objectCreator", "roles/storage.objectViewer"],
    var.allow_writer_delete ? [local.writer_delete_role] : [],
  )
  reader_roles = ["roles/storage.objectViewer"]

  writers = distinct(concat(var.writer_members, var.create_service_account ? [local.service_account_member] : []))
  readers = distinct(var.reader_members)

  # "ROLE MEMBER" => {role, member}; a principal that is both writer and reader collapses into one objectViewer binding.
  bucket_bindings = merge(
    { for pair in setproduct(local.writer_roles, local.writers) : "${pair[0]} ${pair[1]}" => { role = pair[0], member = pair[1] } },
    { for pair in setproduct(local.reader_roles, local.readers) : "${pair[0]} ${pair[1]}" => { role = pair[0], member = pair[1] } },
  )

  # "DATASET ROLE MEMBER" => {dataset_id, role, member}; the Airflow service account edits every dataset.
  dataset_bindings = merge({}, [
    for id, ds in var.bigquery_datasets : merge(
      {
        for m in distinct(concat(ds.editors, var.create_service_account ? [local.service_account_member] : [])) :
        "${id} roles/bigquery.dataEditor ${m}" => { dataset_id = id, role = "roles/bigquery.dataEditor", member = m }
      },
      {
        for m in distinct(ds.viewers) :
        "${id} roles/bigquery.dataViewer ${m}" => { dataset_id = id, role = "roles/bigquery.dataViewer", member = m }
      },
    )
  ]...)
}
