variable "name" {
  description = "Name prefix of the ElastiCache resources, e.g. \"marquee-prod\" (replication group <name>-redis)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "ID of the VPC of the Redis security group."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  description = "Private subnet IDs (at least two AZs) of the cache subnet group."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must list at least two subnet IDs (subnet-...)."
  }
}

variable "allowed_security_group_id" {
  description = "The only security group allowed to reach Redis on 6379: the EKS node security group."
  type        = string

  validation {
    condition     = can(regex("^sg-[0-9a-f]+$", var.allowed_security_group_id))
    error_message = "allowed_security_group_id must be a security group ID (sg-...)."
  }
}

variable "engine_version" {
  description = "Redis OSS engine version (7.x)."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^7\\.[0-9]+$", var.engine_version))
    error_message = "engine_version must be a Redis 7 version such as \"7.1\"."
  }
}

variable "node_type" {
  description = "Cache node type, e.g. \"cache.t4g.small\" or \"cache.m7g.large\"."
  type        = string

  validation {
    condition     = can(regex("^cache\\.[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.node_type))
    error_message = "node_type must look like cache.<family>.<size>, e.g. cache.m7g.large."
  }
}

variable "num_cache_clusters" {
  description = "Nodes in the replication group: one primary plus replicas spread over the AZs (2 or more for automatic failover)."
  type        = number
  default     = 2

  validation {
    condition     = var.num_cache_clusters >= 2 && var.num_cache_clusters <= 6 && floor(var.num_cache_clusters) == var.num_cache_clusters
    error_message = "num_cache_clusters must be a whole number between 2 and 6 (automatic failover needs a replica)."
  }
}

variable "parameter_group_name" {
  description = "Parameter group; the default keeps maxmemory-policy volatile-lru (only keys with a TTL are evicted)."
  type        = string
  default     = "default.redis7"

  validation {
    condition     = length(var.parameter_group_name) > 0
    error_message = "parameter_group_name must not be empty."
  }
}

variable "snapshot_retention_limit" {
  description = "Days of automatic snapshots."
  type        = number
  default     = 7

  validation {
    condition     = var.snapshot_retention_limit >= 1 && var.snapshot_retention_limit <= 35
    error_message = "snapshot_retention_limit must be between 1 and 35 days."
  }
}

variable "snapshot_window" {
  description = "Daily snapshot window (UTC, hh24:mi-hh24:mi), outside maintenance_window."
  type        = string
  default     = "01:00-02:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.snapshot_window))
    error_message = "snapshot_window must look like hh24:mi-hh24:mi."
  }
}

variable "maintenance_window" {
  description = "Weekly maintenance window (UTC, ddd:hh24:mi-ddd:hh24:mi)."
  type        = string
  default     = "sun:04:30-sun:05:30"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like ddd:hh24:mi-ddd:hh24:mi."
  }
}

variable "log_retention_days" {
  description = "Retention of the slow-log and engine-log groups, in days (a CloudWatch Logs allowed value of at least 365)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value of at least 365 days."
  }
}

variable "apply_immediately" {
  description = "Apply modifications now instead of in the next maintenance window."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider default_tags)."
  type        = map(string)
  default     = {}
}
