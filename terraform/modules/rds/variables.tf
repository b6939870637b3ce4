variable "name" {
  description = "Name prefix of the RDS resources, e.g. \"marquee-prod\"; instances are <name>-postgres or <name>-<service>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "ID of the VPC of the database security group."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  description = "Private subnet IDs (at least two AZs) of the DB subnet group."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must list at least two subnet IDs (subnet-...)."
  }
}

variable "allowed_security_group_id" {
  description = "The only security group allowed to reach PostgreSQL on 5432: the EKS node security group."
  type        = string

  validation {
    condition     = can(regex("^sg-[0-9a-f]+$", var.allowed_security_group_id))
    error_message = "allowed_security_group_id must be a security group ID (sg-...)."
  }
}

variable "databases" {
  description = "Service name -> PostgreSQL database name. Each service gets its own database (and owner role, created by the bootstrap step in the README)."
  type        = map(string)

  validation {
    condition     = length(var.databases) >= 1 && alltrue([for k, v in var.databases : can(regex("^[a-z][a-z0-9-]{0,40}$", k)) && can(regex("^[a-z][a-z0-9_]{0,62}$", v))])
    error_message = "databases keys must be service names (lowercase, hyphens) and values PostgreSQL identifiers (lowercase letters, digits, underscores)."
  }
}

variable "instance_per_service" {
  description = "false: one PostgreSQL instance holding every service's database; true: one instance per service (stronger isolation, higher cost)."
  type        = bool
  default     = false
}

variable "engine_version" {
  description = "PostgreSQL engine version: a major version (\"17\", minor versions follow auto_minor_version_upgrade) or an exact one (\"17.5\")."
  type        = string
  default     = "17"

  validation {
    condition     = can(regex("^17(\\.[0-9]+)?$", var.engine_version))
    error_message = "engine_version must be PostgreSQL 17 (\"17\" or \"17.<minor>\")."
  }
}

variable "instance_class" {
  description = "DB instance class, e.g. \"db.t4g.medium\" or \"db.m7g.large\" (applies to every instance)."
  type        = string

  validation {
    condition     = can(regex("^db\\.[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_class))
    error_message = "instance_class must look like db.<family>.<size>, e.g. db.m7g.large."
  }
}

variable "allocated_storage" {
  description = "Initial gp3 storage per instance, in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.allocated_storage >= 20 && var.allocated_storage <= 65536
    error_message = "allocated_storage must be between 20 and 65536 GiB."
  }
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling per instance, in GiB (must exceed allocated_storage)."
  type        = number
  default     = 100

  validation {
    condition     = var.max_allocated_storage >= 21 && var.max_allocated_storage <= 65536
    error_message = "max_allocated_storage must be between 21 and 65536 GiB."
  }
}

variable "multi_az" {
  description = "Run a synchronous standby in a second AZ (automatic failover)."
  type        = bool
  default     = true
}

variable "backup_retention_period" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_period >= 1 && var.backup_retention_period <= 35
    error_message = "backup_retention_period must be between 1 and 35 days."
  }
}

variable "backup_window" {
  description = "Daily backup window (UTC, hh24:mi-hh24:mi), outside maintenance_window."
  type        = string
  default     = "02:00-03:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.backup_window))
    error_message = "backup_window must look like hh24:mi-hh24:mi."
  }
}

variable "maintenance_window" {
  description = "Weekly maintenance window (UTC, ddd:hh24:mi-ddd:hh24:mi)."
  type        = string
  default     = "sun:03:30-sun:04:30"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like ddd:hh24:mi-ddd:hh24:mi."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the instances (turn off deliberately before a destroy)."
  type        = bool
  default     = true
}

variable "master_username" {
  description = "Name of the master user (its password is generated and rotated by RDS in Secrets Manager)."
  type        = string
  default     = "marquee_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.master_username)) && !contains(["postgres", "admin", "rdsadmin"], var.master_username)
    error_message = "master_username must be a lowercase PostgreSQL identifier and not a reserved name (postgres, admin, rdsadmin)."
  }
}

variable "performance_insights_retention_period" {
  description = "Days of Performance Insights history: 7 (free tier), or 31 x n months up to 731."
  type        = number
  default     = 7

  validation {
    condition     = var.performance_insights_retention_period == 7 || (var.performance_insights_retention_period % 31 == 0 && var.performance_insights_retention_period >= 31 && var.performance_insights_retention_period <= 713) || var.performance_insights_retention_period == 731
    error_message = "performance_insights_retention_period must be 7, a multiple of 31 up to 713, or 731."
  }
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (1, 5, 10, 15, 30 or 60)."
  type        = number
  default     = 60

  validation {
    condition     = contains([1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be 1, 5, 10, 15, 30 or 60."
  }
}

variable "log_min_duration_statement_ms" {
  description = "Statements running at least this long (ms) are logged with their duration (-1 disables)."
  type        = number
  default     = 500

  validation {
    condition     = var.log_min_duration_statement_ms >= -1 && var.log_min_duration_statement_ms <= 3600000
    error_message = "log_min_duration_statement_ms must be between -1 and 3600000."
  }
}

variable "log_retention_days" {
  description = "Retention of the exported PostgreSQL log groups, in days (a CloudWatch Logs allowed value of at least 365)."
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
