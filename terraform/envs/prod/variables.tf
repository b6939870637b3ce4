# Defaults here are the production sizing: one NAT gateway per AZ, Multi-AZ RDS, larger
# instances. envs/staging/variables.tf holds the same variables with smaller defaults.

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
  description = "Environment name, the second part of every resource name (marquee-<environment>)."
  type        = string
  default     = "prod"

  validation {
    condition     = contains(["staging", "prod"], var.environment)
    error_message = "environment must be \"staging\" or \"prod\"."
  }
}

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

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group (flow logs, EKS, RDS, Redis, MSK), in days (at least 365)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value of at least 365 days."
  }
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC (/16 to /18)."
  type        = string
  default     = "10.50.0.0/16"

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
  default     = false
}

# ---------------------------------------------------------------------------------------------
# EKS
# ---------------------------------------------------------------------------------------------

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version."
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.(29|3[0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version must be an EKS-supported minor version such as \"1.33\"."
  }
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

  validation {
    condition     = alltrue([for c in var.eks_endpoint_public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "eks_endpoint_public_access_cidrs must be valid IPv4 CIDR blocks other than 0.0.0.0/0."
  }
}

variable "eks_cluster_admin_principal_arns" {
  description = "IAM role/user ARNs given cluster-admin via EKS access entries (e.g. the operators' SSO role, the deploy role)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.eks_cluster_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "eks_cluster_admin_principal_arns must hold IAM role or user ARNs."
  }
}

variable "node_instance_types" {
  description = "Instance types of the managed node group (x86_64: the images are built for linux/amd64)."
  type        = list(string)
  default     = ["m6i.xlarge", "m6a.xlarge"]

  validation {
    condition     = length(var.node_instance_types) >= 1 && alltrue([for t in var.node_instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "node_instance_types must list EC2 instance types such as \"t3.large\"."
  }
}

variable "node_ami_type" {
  description = "EKS AMI type of the nodes (must match the instance architecture)."
  type        = string
  default     = "AL2023_x86_64_STANDARD"

  validation {
    condition     = contains(["AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64"], var.node_ami_type)
    error_message = "node_ami_type must be AL2023_x86_64_STANDARD, AL2023_ARM_64_STANDARD, BOTTLEROCKET_x86_64 or BOTTLEROCKET_ARM_64."
  }
}

variable "node_capacity_type" {
  description = "ON_DEMAND or SPOT nodes."
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
  default     = 3

  validation {
    condition     = var.node_min_size >= 1 && var.node_min_size <= 100 && floor(var.node_min_size) == var.node_min_size
    error_message = "node_min_size must be a whole number between 1 and 100."
  }
}

variable "node_max_size" {
  description = "Maximum number of nodes."
  type        = number
  default     = 9

  validation {
    condition     = var.node_max_size >= 1 && var.node_max_size <= 100 && floor(var.node_max_size) == var.node_max_size
    error_message = "node_max_size must be a whole number between 1 and 100."
  }
}

variable "node_desired_size" {
  description = "Initial number of nodes."
  type        = number
  default     = 3

  validation {
    condition     = var.node_desired_size >= 1 && var.node_desired_size <= 100 && floor(var.node_desired_size) == var.node_desired_size
    error_message = "node_desired_size must be a whole number between 1 and 100."
  }
}

variable "node_disk_size" {
  description = "Root volume size of each node, in GiB."
  type        = number
  default     = 80

  validation {
    condition     = var.node_disk_size >= 20 && var.node_disk_size <= 1000
    error_message = "node_disk_size must be between 20 and 1000 GiB."
  }
}

variable "kubernetes_namespace" {
  description = "Kubernetes namespace of the Marquee workloads."
  type        = string
  default     = "marquee"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.kubernetes_namespace))
    error_message = "kubernetes_namespace must be a valid Kubernetes namespace name."
  }
}

variable "chat_service_account" {
  description = "Service account of chat-service, bound to its IRSA role."
  type        = string
  default     = "chat-service"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.chat_service_account))
    error_message = "chat_service_account must be a valid Kubernetes object name."
  }
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
  default     = "db.m7g.large"

  validation {
    condition     = can(regex("^db\\.[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.rds_instance_class))
    error_message = "rds_instance_class must look like db.<family>.<size>, e.g. db.t4g.medium."
  }
}

variable "rds_allocated_storage" {
  description = "Initial storage per instance, in GiB."
  type        = number
  default     = 100

  validation {
    condition     = var.rds_allocated_storage >= 20 && var.rds_allocated_storage <= 65536
    error_message = "rds_allocated_storage must be between 20 and 65536 GiB."
  }
}

variable "rds_max_allocated_storage" {
  description = "Storage autoscaling ceiling per instance, in GiB."
  type        = number
  default     = 1000

  validation {
    condition     = var.rds_max_allocated_storage >= 21 && var.rds_max_allocated_storage <= 65536
    error_message = "rds_max_allocated_storage must be between 21 and 65536 GiB."
  }
}

variable "rds_multi_az" {
  description = "Multi-AZ standby for the PostgreSQL instances."
  type        = bool
  default     = true
}

variable "rds_backup_retention_period" {
  description = "Days of automated backups."
  type        = number
  default     = 30

  validation {
    condition     = var.rds_backup_retention_period >= 1 && var.rds_backup_retention_period <= 35
    error_message = "rds_backup_retention_period must be between 1 and 35 days."
  }
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

  validation {
    condition     = var.rds_performance_insights_retention_period == 7 || var.rds_performance_insights_retention_period == 731 || (var.rds_performance_insights_retention_period % 31 == 0 && var.rds_performance_insights_retention_period >= 31 && var.rds_performance_insights_retention_period <= 713)
    error_message = "rds_performance_insights_retention_period must be 7, a multiple of 31 up to 713, or 731."
  }
}

variable "rds_monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds."
  type        = number
  default     = 15

  validation {
    condition     = contains([1, 5, 10, 15, 30, 60], var.rds_monitoring_interval)
    error_message = "rds_monitoring_interval must be 1, 5, 10, 15, 30 or 60."
  }
}

# ---------------------------------------------------------------------------------------------
# ElastiCache Redis
# ---------------------------------------------------------------------------------------------

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.m7g.large"

  validation {
    condition     = can(regex("^cache\\.[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.redis_node_type))
    error_message = "redis_node_type must look like cache.<family>.<size>, e.g. cache.t4g.small."
  }
}

variable "redis_num_cache_clusters" {
  description = "Redis nodes (primary + replicas), at least 2 for automatic failover."
  type        = number
  default     = 3

  validation {
    condition     = var.redis_num_cache_clusters >= 2 && var.redis_num_cache_clusters <= 6 && floor(var.redis_num_cache_clusters) == var.redis_num_cache_clusters
    error_message = "redis_num_cache_clusters must be a whole number between 2 and 6."
  }
}

variable "redis_snapshot_retention_limit" {
  description = "Days of Redis snapshots."
  type        = number
  default     = 7

  validation {
    condition     = var.redis_snapshot_retention_limit >= 1 && var.redis_snapshot_retention_limit <= 35
    error_message = "redis_snapshot_retention_limit must be between 1 and 35."
  }
}

# ---------------------------------------------------------------------------------------------
# MSK Kafka
# ---------------------------------------------------------------------------------------------

variable "kafka_version" {
  description = "Kafka version on MSK (3.x)."
  type        = string
  default     = "3.8.x"

  validation {
    condition     = can(regex("^3\\.[0-9]+\\.([0-9]+|x)$", var.kafka_version))
    error_message = "kafka_version must be an MSK Kafka 3.x version such as \"3.8.x\"."
  }
}

variable "msk_broker_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.m7g.large"

  validation {
    condition     = can(regex("^kafka\\.[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.msk_broker_instance_type))
    error_message = "msk_broker_instance_type must look like kafka.<family>.<size>, e.g. kafka.m7g.large."
  }
}

variable "msk_number_of_broker_nodes" {
  description = "Number of brokers (multiple of 3, one set per AZ)."
  type        = number
  default     = 3

  validation {
    condition     = var.msk_number_of_broker_nodes >= 3 && var.msk_number_of_broker_nodes <= 30 && var.msk_number_of_broker_nodes % 3 == 0
    error_message = "msk_number_of_broker_nodes must be a multiple of 3 between 3 and 30."
  }
}

variable "msk_ebs_volume_size" {
  description = "Storage per broker, in GiB."
  type        = number
  default     = 500

  validation {
    condition     = var.msk_ebs_volume_size >= 1 && var.msk_ebs_volume_size <= 16384
    error_message = "msk_ebs_volume_size must be between 1 and 16384 GiB."
  }
}

variable "msk_default_partitions" {
  description = "num.partitions broker default (Marquee's topics are created with explicit counts)."
  type        = number
  default     = 6

  validation {
    condition     = var.msk_default_partitions >= 1 && var.msk_default_partitions <= 100
    error_message = "msk_default_partitions must be between 1 and 100."
  }
}

variable "msk_enable_iam_auth" {
  description = "Open the SASL/IAM listener for operators' tooling as well as SASL/SCRAM."
  type        = bool
  default     = true
}

variable "msk_enhanced_monitoring" {
  description = "MSK CloudWatch metric level."
  type        = string
  default     = "PER_BROKER"

  validation {
    condition     = contains(["DEFAULT", "PER_BROKER", "PER_TOPIC_PER_BROKER", "PER_TOPIC_PER_PARTITION"], var.msk_enhanced_monitoring)
    error_message = "msk_enhanced_monitoring must be DEFAULT, PER_BROKER, PER_TOPIC_PER_BROKER or PER_TOPIC_PER_PARTITION."
  }
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

  validation {
    condition     = can(regex("^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "github_ref_patterns" {
  description = "Git refs allowed to assume the push role (release tags by default; add refs/heads/main to allow manual runs on main)."
  type        = list(string)
  default     = ["refs/tags/v*"]

  validation {
    condition     = length(var.github_ref_patterns) >= 1 && alltrue([for r in var.github_ref_patterns : can(regex("^refs/(tags|heads)/.+$", r))])
    error_message = "github_ref_patterns must list refs such as refs/tags/v* or refs/heads/main."
  }
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub Actions OIDC provider (false if it already exists: pass github_oidc_provider_arn)."
  type        = bool
  default     = true
}

variable "github_oidc_provider_arn" {
  description = "Existing GitHub Actions OIDC provider ARN, used when create_github_oidc_provider is false."
  type        = string
  default     = ""

  validation {
    condition     = var.github_oidc_provider_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc_provider_arn))
    error_message = "github_oidc_provider_arn must be empty or the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
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

  validation {
    condition     = can(regex("^([A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*)?$", var.attachments_key_prefix))
    error_message = "attachments_key_prefix must be empty or slash-separated safe key characters, without leading or trailing slash."
  }
}

variable "attachments_force_destroy" {
  description = "Let terraform destroy delete the attachments buckets with their content (staging teardown only)."
  type        = bool
  default     = false
}
