variable "name" {
  description = "Name prefix of the MSK resources, e.g. \"marquee-prod\" (cluster <name>-kafka)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "ID of the VPC of the broker security group."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC ID (vpc-...)."
  }
}

variable "subnet_ids" {
  description = "Three private subnet IDs, one per AZ: brokers are spread evenly over them."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) == 3 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must list exactly three subnet IDs (subnet-...) in three AZs."
  }
}

variable "allowed_security_group_id" {
  description = "The only security group allowed to reach the brokers: the EKS node security group."
  type        = string

  validation {
    condition     = can(regex("^sg-[0-9a-f]+$", var.allowed_security_group_id))
    error_message = "allowed_security_group_id must be a security group ID (sg-...)."
  }
}

variable "kafka_version" {
  description = "Apache Kafka version on MSK (3.x), e.g. \"3.8.x\" (MSK applies patch releases) or \"3.6.0\"."
  type        = string
  default     = "3.8.x"

  validation {
    condition     = can(regex("^3\\.[0-9]+\\.([0-9]+|x)$", var.kafka_version))
    error_message = "kafka_version must be an MSK Kafka 3.x version such as \"3.8.x\" or \"3.6.0\"."
  }
}

variable "broker_instance_type" {
  description = "Broker instance type, e.g. \"kafka.t3.small\" (test only) or \"kafka.m7g.large\"."
  type        = string

  validation {
    condition     = can(regex("^kafka\\.[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.broker_instance_type))
    error_message = "broker_instance_type must look like kafka.<family>.<size>, e.g. kafka.m7g.large."
  }
}

variable "number_of_broker_nodes" {
  description = "Number of brokers: a multiple of the three AZs, at least 3 (replication factor 3, min.insync.replicas 2)."
  type        = number
  default     = 3

  validation {
    condition     = var.number_of_broker_nodes >= 3 && var.number_of_broker_nodes <= 30 && var.number_of_broker_nodes % 3 == 0
    error_message = "number_of_broker_nodes must be a multiple of 3 between 3 and 30."
  }
}

variable "ebs_volume_size" {
  description = "EBS storage per broker, in GiB."
  type        = number
  default     = 100

  validation {
    condition     = var.ebs_volume_size >= 1 && var.ebs_volume_size <= 16384
    error_message = "ebs_volume_size must be between 1 and 16384 GiB."
  }
}

variable "default_partitions" {
  description = "num.partitions for topics created without an explicit count (the deployment creates Marquee's topics explicitly)."
  type        = number
  default     = 3

  validation {
    condition     = var.default_partitions >= 1 && var.default_partitions <= 100
    error_message = "default_partitions must be between 1 and 100."
  }
}

variable "log_retention_hours" {
  description = "Default record retention (log.retention.hours); DLQ topics override it per topic."
  type        = number
  default     = 168

  validation {
    condition     = var.log_retention_hours >= 1 && var.log_retention_hours <= 8760
    error_message = "log_retention_hours must be between 1 and 8760."
  }
}

variable "scram_usernames" {
  description = "SASL/SCRAM-SHA-512 users to create (one Secrets Manager secret AmazonMSK_<name>/<user> each). The services share \"marquee\" (Kubernetes secret marquee-kafka)."
  type        = list(string)
  default     = ["marquee"]

  validation {
    condition     = length(var.scram_usernames) >= 1 && alltrue([for u in var.scram_usernames : can(regex("^[a-z][a-z0-9_-]{0,63}$", u))])
    error_message = "scram_usernames must list at least one user name (lowercase letters, digits, _ and -)."
  }
}

variable "enable_iam_auth" {
  description = "Also open the SASL/IAM listener (port 9098) for operators' tooling; the Rust services use SCRAM."
  type        = bool
  default     = true
}

variable "enhanced_monitoring" {
  description = "CloudWatch metric level: DEFAULT, PER_BROKER, PER_TOPIC_PER_BROKER or PER_TOPIC_PER_PARTITION (all but DEFAULT cost extra)."
  type        = string
  default     = "DEFAULT"

  validation {
    condition     = contains(["DEFAULT", "PER_BROKER", "PER_TOPIC_PER_BROKER", "PER_TOPIC_PER_PARTITION"], var.enhanced_monitoring)
    error_message = "enhanced_monitoring must be DEFAULT, PER_BROKER, PER_TOPIC_PER_BROKER or PER_TOPIC_PER_PARTITION."
  }
}

variable "log_retention_days" {
  description = "Retention of the broker log group, in days (a CloudWatch Logs allowed value of at least 365)."
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
