# What an operator sets per deployment, in terraform.tfvars. The environment's sizing is in
# main.tf; values passed on to modules/platform are validated there.

variable "region" {
  description = "AWS region of the environment."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "aws_account_id" {
  description = "AWS account the environment must be applied to (guards against the wrong credentials); empty disables the check."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([0-9]{12})?$", var.aws_account_id))
    error_message = "aws_account_id must be empty or a 12-digit AWS account ID."
  }
}

variable "tags" {
  description = "Extra tags put on every resource through the provider's default_tags."
  type        = map(string)
  default     = {}
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose release workflow pushes images."
  type        = string
}

variable "eks_cluster_admin_principal_arns" {
  description = "IAM role/user ARNs given cluster-admin via EKS access entries (e.g. the operators' SSO role, the deploy role)."
  type        = list(string)
  default     = []
}

variable "eks_endpoint_public_access" {
  description = "Also expose the Kubernetes API publicly (restricted to eks_endpoint_public_access_cidrs)."
  type        = bool
  default     = false
}

variable "eks_endpoint_public_access_cidrs" {
  description = "CIDRs allowed on the public API endpoint (never 0.0.0.0/0)."
  type        = list(string)
  default     = []
}

variable "manage_ecr" {
  description = "Create the marquee/<service> ECR repositories and the GitHub push role here. With both environments in one AWS account, exactly one of them may set true."
  type        = bool
  default     = true
}

variable "github_oidc_provider_arn" {
  description = "ARN of the account's existing GitHub Actions OIDC provider; empty creates it (with manage_ecr)."
  type        = string
  default     = ""
}

# Teardown (terraform/README.md): rds_deletion_protection = false and attachments_force_destroy =
# true, apply, then terraform destroy.

variable "rds_deletion_protection" {
  description = "Deletion protection on the PostgreSQL instances."
  type        = bool
  default     = true
}

variable "attachments_force_destroy" {
  description = "Let terraform destroy delete the attachments buckets with their content."
  type        = bool
  default     = false
}
