variable "bucket_name" {
  description = "Globally unique name of the chat attachments bucket; the access log bucket is <bucket_name>-logs."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,56}[a-z0-9]$", var.bucket_name)) && !can(regex("\\.\\.|^xn--|-s3alias$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name of at most 58 characters (room for the -logs suffix)."
  }
}

variable "key_prefix" {
  description = "Key prefix under which chat-service stores attachments (the /prefix of ATTACHMENTS_STORE=s3://bucket/prefix); empty for the whole bucket."
  type        = string
  default     = "chat"

  validation {
    condition     = can(regex("^([A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*)?$", var.key_prefix))
    error_message = "key_prefix must be empty or slash-separated safe key characters, without leading or trailing slash."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted attachment version is kept before it is purged (recovery window)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && var.noncurrent_version_expiration_days <= 3650
    error_message = "noncurrent_version_expiration_days must be between 1 and 3650."
  }
}

variable "transition_to_ia_days" {
  description = "Days after which attachments move to STANDARD_IA (older attachments are rarely opened). At least 30."
  type        = number
  default     = 90

  validation {
    condition     = var.transition_to_ia_days >= 30 && var.transition_to_ia_days <= 3650
    error_message = "transition_to_ia_days must be between 30 and 3650."
  }
}

variable "access_log_expiration_days" {
  description = "Days the S3 server access logs are kept."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_expiration_days >= 1 && var.access_log_expiration_days <= 3650
    error_message = "access_log_expiration_days must be between 1 and 3650."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete non-empty buckets (never in prod)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider default_tags)."
  type        = map(string)
  default     = {}
}
