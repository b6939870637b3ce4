# The settings of one environment. Those without a default are the environment's identity
# (sizing, redundancy, and the versions that roll out one environment at a time): every
# envs/<name>/main.tf states them. The others are the same everywhere unless overridden.
#
# Each rule is written once, where the value is used: the validations here cover what this
# module decides (names, the VPC layout, the bucket name); a value handed unchanged to another
# module (node sizes, instance classes, versions, GitHub settings, ...) is checked by that
# module's variables.tf, and an invalid one fails the plan with its message.

# ---------------------------------------------------------------------------------------------
# General
# ---------------------------------------------------------------------------------------------

variable "project" {
  description = "Project name, the first part of every resource name."
  type        = string
  default     = "marquee"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,15}$", var.project))
    error_message = "project must be 2-16 lowercase letters and digits, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name, the second part of every resource name (<project>-<environment>, e.g. marquee-staging)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.environment))
    error_message = "environment must be 2-12 lowercase letters and digits, starting with a letter."
  }
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group (flow logs, EKS, RDS, Redis, MSK), in days (at least 365)."
  type        = number
  default     = 365
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC (/16 to /18)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && can(regex("/(1[6-8])$", var.vpc_cidr))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block between /16 and /18."
  }
}

variable "availability_zones" {
  description = "Three availability zones (used in alphabetical order); empty means the region's a, b and c zones."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || (length(var.availability_zones) == 3 && length(distinct(var.availability_zones)) == 3)
    error_message = "availability_zones must be empty or list three distinct zones."
  }
}

variable "public_subnet_cidrs" {
  description = "Three public subnet CIDRs inside vpc_cidr; empty derives them from vpc_cidr."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.public_subnet_cidrs) == 0 || (length(var.public_subnet_cidrs) == 3 && alltrue([for c in var.public_subnet_cidrs : can(cidrhost(c, 0))]))
    error_message = "public_subnet_cidrs must be empty or hold three valid IPv4 CIDR blocks."
  }
}

variable "private_subnet_cidrs" {
  description = "Three private subnet CIDRs inside vpc_cidr; empty derives them from vpc_cidr."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.private_subnet_cidrs) == 0 || (length(var.private_subnet_cidrs) == 3 && alltrue([for c in var.private_subnet_cidrs : can(cidrhost(c, 0))]))
    error_message = "private_subnet_cidrs must be empty or hold three valid IPv4 CIDR blocks."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper) instead of one per AZ (egress survives an AZ outage)."
  type        = bool
}

# ---------------------------------------------------------------------------------------------
# EKS
# ---------------------------------------------------------------------------------------------

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version."
  type        = string
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

variable "eks_cluster_admin_principal_arns" {
  description = "IAM role/user ARNs given cluster-admin via EKS access entries (e.g. the operators' SSO role, the deploy role)."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the managed node group (x86_64: the images are built for linux/amd64)."
  type        = list(string)
}

variable "node_ami_type" {
  description = "EKS AMI type of the nodes (must match the instance architecture)."
  type        = string
  default     = "AL2023_x86_64_STANDARD"
}

variable "node_capacity_type" {
  description = "ON_DEMAND or SPOT nodes."
  type        = string
  default     = "ON_DEMAND"
}

variable "node_min_size" {
  description = "Minimum number of nodes."
  type        = number
}

variable "node_max_size" {
  description = "Maximum number of nodes."
  type        = number
}

variable "node_desired_size" {
  description = "Initial number of nodes."
  type        = number
}

variable "node_disk_size" {
  description = "Root volume size of each node, in GiB."
  type        = number
}

variable "kubernetes_namespace" {
  description = "Kubernetes namespace of the Marquee workloads."
  type        = string
  default     = "marquee"
}

variable "chat_service_account" {
  description = "Service account of chat-service, bound to its IRSA role."
  type        = string
  default     = "chat-service"
}

# ---------------------------------------------------------------------------------------------
# RDS PostgreSQL
# ---------------------------------------------------------------------------------------------

variable "rds_instance_per_service" {
  description = "One PostgreSQL instance per service (true) or one instance holding every service's database (false)."
  type        = bool
  default     = false
}

variable "rds_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "rds_allocated_storage" {
  description = "Initial storage per instance, in GiB."
  type        = number
}

variable "rds_max_allocated_storage" {
  description = "Storage autoscaling ceiling per instance, in GiB."
  type        = number
}

variable "rds_multi_az" {
  description = "Multi-AZ standby for the PostgreSQL instances."
  type        = bool
}

variable "rds_backup_retention_period" {
  description = "Days of automated backups."
  type        = number
}

variable "rds_deletion_protection" {
  description = "Deletion protection on the PostgreSQL instances."
  type        = bool
  default     = true
}

variable "rds_performance_insights_retention_period" {
  description = "Days of Performance Insights history (7 is free)."
  type        = number
  default     = 7
}

variable "rds_monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds."
  type        = number
}

# ---------------------------------------------------------------------------------------------
# ElastiCache Redis
# ---------------------------------------------------------------------------------------------

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "redis_num_cache_clusters" {
  description = "Redis nodes (primary + replicas), at least 2 for automatic failover."
  type        = number
}

variable "redis_snapshot_retention_limit" {
  description = "Days of Redis snapshots."
  type        = number
}

# ---------------------------------------------------------------------------------------------
# MSK Kafka
# ---------------------------------------------------------------------------------------------

variable "kafka_version" {
  description = "Kafka version on MSK (3.x)."
  type        = string
}

variable "msk_broker_instance_type" {
  description = "MSK broker instance type."
  type        = string
}

variable "msk_number_of_broker_nodes" {
  description = "Number of brokers (multiple of 3, one set per AZ)."
  type        = number
  default     = 3
}

variable "msk_ebs_volume_size" {
  description = "Storage per broker, in GiB."
  type        = number
}

variable "msk_default_partitions" {
  description = "num.partitions broker default (Marquee's topics are created with explicit counts)."
  type        = number
}

variable "msk_enable_iam_auth" {
  description = "Open the SASL/IAM listener for operators' tooling as well as SASL/SCRAM."
  type        = bool
  default     = true
}

variable "msk_enhanced_monitoring" {
  description = "MSK CloudWatch metric level."
  type        = string
}

# ---------------------------------------------------------------------------------------------
# ECR and GitHub Actions
# ---------------------------------------------------------------------------------------------

variable "manage_ecr" {
  description = "Create the marquee/<service> ECR repositories and the GitHub push role in this environment. With both environments in one AWS account, exactly one of them may set true."
  type        = bool
  default     = true
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose release workflow pushes images."
  type        = string
}

variable "github_ref_patterns" {
  description = "Git refs allowed to assume the push role (release tags by default; add refs/heads/main to allow manual runs on main)."
  type        = list(string)
  default     = ["refs/tags/v*"]
}

variable "github_oidc_provider_arn" {
  description = "ARN of the account's existing GitHub Actions OIDC provider (only one may exist per account); empty: the ecr module creates it."
  type        = string
  default     = ""
}

# ---------------------------------------------------------------------------------------------
# Chat attachments
# ---------------------------------------------------------------------------------------------

variable "attachments_bucket_name" {
  description = "Name of the chat attachments bucket; empty uses marquee-<environment>-chat-attachments-<account id>."
  type        = string
  default     = ""

  validation {
    condition     = var.attachments_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,56}[a-z0-9]$", var.attachments_bucket_name))
    error_message = "attachments_bucket_name must be empty or a valid S3 bucket name of at most 58 characters."
  }
}

variable "attachments_key_prefix" {
  description = "Key prefix of the attachments inside the bucket (ATTACHMENTS_STORE=s3://<bucket>/<prefix>)."
  type        = string
  default     = "chat"
}

variable "attachments_force_destroy" {
  description = "Let terraform destroy delete the attachments buckets with their content (staging teardown only)."
  type        = bool
  default     = false
}
