variable "description" {
  description = "Description of the key (what it encrypts), e.g. \"marquee-prod: ECR image encryption\"."
  type        = string

  validation {
    condition     = length(var.description) >= 1 && length(var.description) <= 8192
    error_message = "description must be 1-8192 characters."
  }
}

variable "alias" {
  description = "Alias name without the alias/ prefix, e.g. \"marquee-prod-rds\"."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "alias must be 1-250 characters of letters, digits, /, _ and -, and not start with aws/."
  }
}

variable "log_group_name_patterns" {
  description = "CloudWatch log group names (or ArnLike patterns with *) in this account and region that CloudWatch Logs may encrypt with the key; empty: no CloudWatch Logs statement."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.log_group_name_patterns : can(regex("^[A-Za-z0-9_./#*-]{1,512}$", n))])
    error_message = "log_group_name_patterns must hold log group names (letters, digits and _-./#, with * as a wildcard)."
  }
}

variable "log_statement_sid" {
  description = "Sid of the CloudWatch Logs statement (naming the log groups it covers)."
  type        = string
  default     = "CloudWatchLogs"

  validation {
    condition     = can(regex("^[A-Za-z0-9]+$", var.log_statement_sid))
    error_message = "log_statement_sid must be alphanumeric."
  }
}

variable "policy_statements_json" {
  description = "Further key policy statements, as a JSON array of IAM statement objects (e.g. jsonencode([{ Sid = ..., Effect = ..., ... }]))."
  type        = string
  default     = "[]"

  validation {
    condition     = try(alltrue([for s in concat(jsondecode(var.policy_statements_json), []) : contains(["Allow", "Deny"], s.Effect)]), false)
    error_message = "policy_statements_json must be a JSON array of statement objects, each with Effect Allow or Deny."
  }
}

variable "tags" {
  description = "Tags of the key (on top of the provider default_tags)."
  type        = map(string)
  default     = {}
}
