variable "cluster_name" {
  description = "Name of the EKS cluster, e.g. \"marquee-prod\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.cluster_name))
    error_message = "cluster_name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane and the managed node group (\"1.33\"). Upgrade one minor version at a time."
  type        = string

  validation {
    condition     = can(regex("^1\\.(29|3[0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version must be an EKS-supported minor version such as \"1.33\" (1.29 or later)."
  }
}

variable "vpc_id" {
  description = "ID of the VPC holding the cluster."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC: node egress to it is unrestricted (databases, Redis, Kafka, other pods)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "subnet_ids" {
  description = "Private subnet IDs (one per AZ) for the control plane ENIs and the managed node group."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must list at least two subnet IDs (subnet-...) in different AZs."
  }
}

variable "endpoint_public_access" {
  description = "Expose the Kubernetes API on a public endpoint as well (restricted to endpoint_public_access_cidrs). The private endpoint is always on."
  type        = bool
  default     = false
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint when endpoint_public_access is true (operators' VPN egress, CI runners). 0.0.0.0/0 is refused."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "endpoint_public_access_cidrs must be valid IPv4 CIDR blocks other than 0.0.0.0/0."
  }
}

variable "cluster_admin_principal_arns" {
  description = "IAM role/user ARNs given cluster-admin through EKS access entries (besides the identity that creates the cluster)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "cluster_admin_principal_arns must hold IAM role or user ARNs."
  }
}

variable "node_instance_types" {
  description = "EC2 instance types of the managed node group (the first is preferred; several help SPOT capacity)."
  type        = list(string)

  validation {
    condition     = length(var.node_instance_types) >= 1 && alltrue([for t in var.node_instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "node_instance_types must list at least one EC2 instance type such as \"m6i.large\"."
  }
}

variable "node_ami_type" {
  description = "EKS-optimised AMI type of the nodes; must match the instance architecture (x86_64 for the default images)."
  type        = string
  default     = "AL2023_x86_64_STANDARD"

  validation {
    condition     = contains(["AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64"], var.node_ami_type)
    error_message = "node_ami_type must be AL2023_x86_64_STANDARD, AL2023_ARM_64_STANDARD, BOTTLEROCKET_x86_64 or BOTTLEROCKET_ARM_64."
  }
}

variable "node_capacity_type" {
  description = "ON_DEMAND or SPOT capacity for the managed node group."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.node_capacity_type)
    error_message = "node_capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "node_min_size" {
  description = "Minimum number of nodes."
  type        = number

  validation {
    condition     = var.node_min_size >= 1 && var.node_min_size <= 100 && floor(var.node_min_size) == var.node_min_size
    error_message = "node_min_size must be a whole number between 1 and 100."
  }
}

variable "node_max_size" {
  description = "Maximum number of nodes (the cluster autoscaler's ceiling); must be at least node_min_size."
  type        = number

  validation {
    condition     = var.node_max_size >= 1 && var.node_max_size <= 100 && floor(var.node_max_size) == var.node_max_size
    error_message = "node_max_size must be a whole number between 1 and 100."
  }
}

variable "node_desired_size" {
  description = "Initial number of nodes (later changes by an autoscaler are ignored by Terraform)."
  type        = number

  validation {
    condition     = var.node_desired_size >= 1 && var.node_desired_size <= 100 && floor(var.node_desired_size) == var.node_desired_size
    error_message = "node_desired_size must be a whole number between 1 and 100."
  }
}

variable "node_disk_size" {
  description = "Root EBS volume size of each node, in GiB (gp3, encrypted)."
  type        = number
  default     = 50

  validation {
    condition     = var.node_disk_size >= 20 && var.node_disk_size <= 1000
    error_message = "node_disk_size must be between 20 and 1000 GiB."
  }
}

variable "cluster_log_types" {
  description = "Control plane log types sent to CloudWatch Logs."
  type        = list(string)
  default     = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  validation {
    condition     = alltrue([for t in var.cluster_log_types : contains(["api", "audit", "authenticator", "controllerManager", "scheduler"], t)])
    error_message = "cluster_log_types may only contain api, audit, authenticator, controllerManager and scheduler."
  }
}

variable "log_retention_days" {
  description = "Retention of the control plane log group, in days (a CloudWatch Logs allowed value of at least 365)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value of at least 365 days."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider default_tags)."
  type        = map(string)
  default     = {}
}
