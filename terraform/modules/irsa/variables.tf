variable "role_name" {
  description = "Name of the IAM role, e.g. \"marquee-prod-chat-service\"."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be a valid IAM role name (1-64 characters of letters, digits and +=,.@_-)."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC identity provider (output oidc_provider_arn of the eks module)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/.+$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be an IAM OIDC provider ARN (arn:aws:iam::<account>:oidc-provider/<issuer>)."
  }
}

variable "namespace" {
  description = "Kubernetes namespace of the service account."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a valid Kubernetes namespace name (DNS label)."
  }
}

variable "service_account" {
  description = "Name of the Kubernetes service account allowed to assume the role."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.service_account))
    error_message = "service_account must be a valid Kubernetes object name (DNS subdomain)."
  }
}

variable "policy_json" {
  description = "IAM policy document (JSON) granted to the role as an inline policy."
  type        = string

  validation {
    condition     = can(jsondecode(var.policy_json).Statement)
    error_message = "policy_json must be a JSON IAM policy document with a Statement."
  }
}

variable "max_session_duration" {
  description = "Longest session of the role, in seconds (3600-43200)."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "tags" {
  description = "Tags added to the role (on top of the provider default_tags)."
  type        = map(string)
  default     = {}
}
