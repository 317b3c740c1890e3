terraform {
  # 1.5 for startswith() in the variable validations (optional() object attributes with defaults need 1.3).
  required_version = ">= 1.5, < 2.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 6.0+ has every bucket argument used here (public_access_prevention, soft_delete_policy,
      # AbortIncompleteMultipartUpload lifecycle action).
      version = ">= 6.0, < 8.0"
    }
  }
}
