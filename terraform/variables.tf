# ---------------------------------------------------------------------------------------------------------------------
# Project and bucket
# ---------------------------------------------------------------------------------------------------------------------

variable "project_id" {
  description = "Google Cloud project that owns the bucket (and the optional service account and BigQuery datasets)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 characters: lowercase letters, digits and hyphens, starting with a letter), not a project number or name."
  }
}

variable "bucket_name" {
  description = "Globally unique name of the artifact bucket. Dotted (domain) names are not supported."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of lowercase letters, digits, '-' and '_', starting and ending with a letter or digit (dotted names need domain verification and are not supported)."
  }

  validation {
    condition     = !startswith(var.bucket_name, "goog") && !can(regex("g[o0][o0]g[l1][e3]", var.bucket_name))
    error_message = "bucket_name must not start with \"goog\" or contain \"google\" (or a close misspelling): Cloud Storage rejects such names."
  }
}

variable "prefix" {
  description = "Object prefix under which runs are published: remote_target_path is gs://<bucket>/<prefix>. Empty string for the bucket root."
  type        = string
  default     = "cosmos"

  validation {
    condition     = var.prefix == "" || can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.prefix))
    error_message = "prefix must be empty or path segments of letters, digits, '.', '_' and '-' separated by single '/', with no leading or trailing '/'."
  }
}

variable "location" {
  description = "Bucket location: a multi-region (US, EU, ASIA), a predefined dual-region (e.g. EUR4, NAM4) or a region (e.g. europe-west1). Keep it close to the Airflow workers and BigQuery datasets."
  type        = string
  default     = "EU"

  validation {
    condition     = can(regex("^(?i)(US|EU|ASIA|[a-z]{3,4}[0-9]|[a-z]+-[a-z]+[0-9]+)$", var.location))
    error_message = "location must be a multi-region (US, EU, ASIA), a dual-region code such as EUR4 or NAM4, or a region such as europe-west1."
  }
}

variable "storage_class" {
  description = "Default storage class. SQL artifacts are small, short-lived and read right after they are written, so STANDARD is almost always right (the others bill minimum storage durations and retrieval)."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"], var.storage_class)
    error_message = "storage_class must be one of STANDARD, NEARLINE, COLDLINE, ARCHIVE."
  }
}

variable "retention_days" {
  description = "Objects older than this many days are deleted by a lifecycle rule (this replaces any teardown task). Must exceed the longest time a DAG run may still be retried or cleared."
  type        = number
  default     = 30

  validation {
    condition     = var.retention_days >= 1 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days, at least 1."
  }
}

variable "versioning_enabled" {
  description = "Turn on object versioning. Off by default: artifacts are written once under a unique run_id path and writers cannot overwrite them. When on, noncurrent versions are deleted after noncurrent_retention_days."
  type        = bool
  default     = false
}

variable "noncurrent_retention_days" {
  description = "With versioning on, noncurrent object versions are deleted this many days after they became noncurrent."
  type        = number
  default     = 7

  validation {
    condition     = var.noncurrent_retention_days >= 1 && floor(var.noncurrent_retention_days) == var.noncurrent_retention_days
    error_message = "noncurrent_retention_days must be a whole number of days, at least 1."
  }
}

variable "soft_delete_retention_days" {
  description = "Soft-delete retention in days: 0 turns soft delete off (deleted artifacts are gone at once, nothing is billed after the lifecycle deletion), otherwise 7-90 days during which deleted objects can be restored."
  type        = number
  default     = 0

  validation {
    condition     = var.soft_delete_retention_days == 0 || (var.soft_delete_retention_days >= 7 && var.soft_delete_retention_days <= 90)
    error_message = "soft_delete_retention_days must be 0 (off) or between 7 and 90."
  }

  validation {
    condition     = floor(var.soft_delete_retention_days) == var.soft_delete_retention_days
    error_message = "soft_delete_retention_days must be a whole number of days."
  }
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) used as the bucket's default encryption key (CMEK). The key must be in the bucket's location. null uses Google-managed encryption."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be null or a key ID of the form projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY."
  }
}

variable "grant_kms_to_service_agents" {
  description = "Grant roles/cloudkms.cryptoKeyEncrypterDecrypter on kms_key_name to the project's Cloud Storage service agent and on bigquery_kms_key_name to its BigQuery service agent (each is required before the bucket or dataset can use its key). Set to false if the keys' owners grant these elsewhere."
  type        = bool
  default     = true
}

variable "log_bucket" {
  description = "Optional bucket that receives usage and storage logs for the artifact bucket. null turns access logging off (Cloud Audit Data Access logs are the usual alternative)."
  type        = string
  default     = null

  validation {
    condition     = var.log_bucket == null || can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.log_bucket))
    error_message = "log_bucket must be null or a bucket name (no gs:// scheme)."
  }
}

variable "labels" {
  description = "Labels added to the bucket (and BigQuery datasets). A label component=cosmos-remote-artifacts is always set."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "labels keys must start with a lowercase letter; keys and values may only hold lowercase letters, digits, '_' and '-' (at most 63 characters)."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a bucket that still holds objects. Off by default."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------------------------------------------------
# Access (least privilege, bucket-level bindings only; never project-wide storage roles)
# ---------------------------------------------------------------------------------------------------------------------

variable "writer_members" {
  description = "Principals that publish artifacts (Airflow workers running the setup task), as serviceAccount:EMAIL, user:EMAIL, group:EMAIL or a principal:// / principalSet:// workload identity. They get roles/storage.objectCreator + roles/storage.objectViewer on the bucket: create and read, but no overwrite or delete unless allow_writer_delete is set."
  type        = list(string)
  default     = []

  validation {
    condition     = !anytrue([for m in var.writer_members : contains(["allusers", "allauthenticatedusers"], lower(trimspace(m)))])
    error_message = "writer_members must not contain allUsers or allAuthenticatedUsers: the artifact bucket is never public."
  }

  validation {
    condition     = alltrue([for m in var.writer_members : can(regex("^((serviceAccount|user|group):[^@\\s:]+@[^@\\s]+|principal(Set)?://\\S+)$", m))])
    error_message = "Each writer_members entry must look like serviceAccount:NAME@PROJECT.iam.gserviceaccount.com, user:EMAIL, group:EMAIL, principal://... or principalSet://...."
  }
}

variable "reader_members" {
  description = "Principals that only read artifacts (workers running model tasks, humans inspecting SQL), same formats as writer_members. They get roles/storage.objectViewer on the bucket."
  type        = list(string)
  default     = []

  validation {
    condition     = !anytrue([for m in var.reader_members : contains(["allusers", "allauthenticatedusers"], lower(trimspace(m)))])
    error_message = "reader_members must not contain allUsers or allAuthenticatedUsers: the artifact bucket is never public."
  }

  validation {
    condition     = alltrue([for m in var.reader_members : can(regex("^((serviceAccount|user|group):[^@\\s:]+@[^@\\s]+|principal(Set)?://\\S+)$", m))])
    error_message = "Each reader_members entry must look like serviceAccount:NAME@PROJECT.iam.gserviceaccount.com, user:EMAIL, group:EMAIL, principal://... or principalSet://...."
  }
}

variable "allow_writer_delete" {
  description = "Also let writers delete objects (for an in-DAG garbage collection task, or a publisher that overwrites). Creates a project custom role holding only storage.objects.delete and binds it on the bucket. Off by default: the lifecycle rule deletes old artifacts."
  type        = bool
  default     = false
}

variable "writer_delete_role_id" {
  description = "ID of the custom role created when allow_writer_delete is true. Deleted custom role IDs cannot be reused for 37 days: pick a new one if you re-create it."
  type        = string
  default     = "cosmosRemoteArtifactDeleter"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.]{3,64}$", var.writer_delete_role_id))
    error_message = "writer_delete_role_id must be 3-64 characters of letters, digits, '_' and '.'."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Optional: a service account for Airflow
# ---------------------------------------------------------------------------------------------------------------------

variable "create_service_account" {
  description = "Create a service account for the Airflow workers and make it a writer (and a dataEditor of every dataset in bigquery_datasets)."
  type        = bool
  default     = false
}

variable "service_account_id" {
  description = "account_id of the Airflow service account created when create_service_account is true."
  type        = string
  default     = "cosmos-remote-airflow"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.service_account_id))
    error_message = "service_account_id must be 6-30 characters of lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "grant_bigquery_job_user" {
  description = "With create_service_account, also grant the service account roles/bigquery.jobUser on the project (dbt needs it to run query jobs). This is the only project-level binding the module can make."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------------------------------------------------
# Optional: BigQuery datasets the dbt models build into
# ---------------------------------------------------------------------------------------------------------------------

variable "bigquery_datasets" {
  description = "BigQuery datasets to create, keyed by dataset_id. editors get roles/bigquery.dataEditor and viewers roles/bigquery.dataViewer on that dataset only. The location must be a BigQuery location (dual-region bucket codes like EUR4 are not)."
  type = map(object({
    location                      = string
    description                   = optional(string, "dbt models run by cosmos_remote")
    default_table_expiration_days = optional(number)
    delete_contents_on_destroy    = optional(bool, false)
    labels                        = optional(map(string), {})
    editors                       = optional(list(string), [])
    viewers                       = optional(list(string), [])
  }))
  default = {}

  validation {
    condition     = alltrue([for id in keys(var.bigquery_datasets) : can(regex("^[A-Za-z0-9_]+$", id)) && length(id) <= 1024])
    error_message = "bigquery_datasets keys must be dataset IDs: letters, digits and underscores only."
  }

  validation {
    condition = !anytrue(flatten([
      for ds in values(var.bigquery_datasets) : [
        for m in concat(ds.editors, ds.viewers) : contains(["allusers", "allauthenticatedusers"], lower(trimspace(m)))
      ]
    ]))
    error_message = "bigquery_datasets editors/viewers must not contain allUsers or allAuthenticatedUsers."
  }

  validation {
    condition = alltrue(flatten([
      for ds in values(var.bigquery_datasets) : [
        for m in concat(ds.editors, ds.viewers) : can(regex("^((serviceAccount|user|group):[^@\\s:]+@[^@\\s]+|principal(Set)?://\\S+)$", m))
      ]
    ]))
    error_message = "Each bigquery_datasets editors/viewers entry must look like serviceAccount:EMAIL, user:EMAIL, group:EMAIL, principal://... or principalSet://...."
  }

  validation {
    condition = alltrue([
      for ds in values(var.bigquery_datasets) : ds.default_table_expiration_days == null ? true : ds.default_table_expiration_days >= 1
    ])
    error_message = "bigquery_datasets default_table_expiration_days must be null or at least 1."
  }
}

variable "bigquery_kms_key_name" {
  description = "Optional Cloud KMS key used as the default encryption key of the BigQuery datasets (the BigQuery service agent must be able to use it). null uses Google-managed encryption."
  type        = string
  default     = null

  validation {
    condition     = var.bigquery_kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.bigquery_kms_key_name))
    error_message = "bigquery_kms_key_name must be null or a key ID of the form projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY."
  }
}
