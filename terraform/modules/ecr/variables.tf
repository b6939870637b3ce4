variable "name" {
  description = "Name prefix of the IAM role and KMS alias, e.g. \"marquee-prod\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "namespace" {
  description = "Repository namespace: repositories are <namespace>/<service>."
  type        = string
  default     = "marquee"

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*$", var.namespace))
    error_message = "namespace must be a lowercase ECR name component."
  }
}

variable "services" {
  description = "Services (one repository each, named like the Dockerfile target and binary)."
  type        = list(string)

  validation {
    condition     = length(var.services) >= 1 && alltrue([for s in var.services : can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*$", s))])
    error_message = "services must list at least one lowercase ECR name component."
  }
}

variable "keep_release_images" {
  description = "Release images (version tags such as 1.2.3, pushed for git tags v*) kept per repository; older ones expire."
  type        = number
  default     = 50

  validation {
    condition     = var.keep_release_images >= 1 && var.keep_release_images <= 1000
    error_message = "keep_release_images must be between 1 and 1000."
  }
}

variable "keep_sha_images" {
  description = "Images tagged only sha-<commit> (manual workflow runs) kept per repository."
  type        = number
  default     = 20

  validation {
    condition     = var.keep_sha_images >= 1 && var.keep_sha_images <= 1000
    error_message = "keep_sha_images must be between 1 and 1000."
  }
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose Actions workflows may push images."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "github_ref_patterns" {
  description = "Git refs (StringLike patterns) whose workflow runs may assume the push role; release tags only by default."
  type        = list(string)
  default     = ["refs/tags/v*"]

  validation {
    condition     = length(var.github_ref_patterns) >= 1 && alltrue([for r in var.github_ref_patterns : can(regex("^refs/(tags|heads)/.+$", r))])
    error_message = "github_ref_patterns must list refs such as refs/tags/v* or refs/heads/main."
  }
}

variable "create_github_oidc_provider" {
  description = "Create the account's token.actions.githubusercontent.com OIDC provider (only one may exist per account: set false and pass github_oidc_provider_arn if it already exists)."
  type        = bool
  default     = true
}

variable "github_oidc_provider_arn" {
  description = "ARN of an existing GitHub Actions OIDC provider, used when create_github_oidc_provider is false."
  type        = string
  default     = ""

  validation {
    condition     = var.github_oidc_provider_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc_provider_arn))
    error_message = "github_oidc_provider_arn must be empty or the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider default_tags)."
  type        = map(string)
  default     = {}
}
