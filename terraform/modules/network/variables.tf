variable "name" {
  description = "Name prefix of every network resource, e.g. \"marquee-prod\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR block of the VPC (a /16 to /20 leaves room for the EKS pod IPs handed out by the VPC CNI)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && can(regex("/(1[6-9]|20)$", var.vpc_cidr))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block between /16 and /20."
  }
}

variable "azs" {
  description = "Exactly three availability zones, one public and one private subnet in each."
  type        = list(string)

  validation {
    condition     = length(var.azs) == 3 && length(distinct(var.azs)) == 3
    error_message = "azs must list exactly three distinct availability zones."
  }
}

variable "public_subnet_cidrs" {
  description = "Three public subnet CIDRs (load balancers and NAT gateways), in the order of azs; must lie inside vpc_cidr."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_cidrs) == 3 && alltrue([for c in var.public_subnet_cidrs : can(cidrhost(c, 0))])
    error_message = "public_subnet_cidrs must hold exactly three valid IPv4 CIDR blocks."
  }
}

variable "private_subnet_cidrs" {
  description = "Three private subnet CIDRs (EKS nodes and pods, RDS, ElastiCache, MSK), in the order of azs; must lie inside vpc_cidr."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_cidrs) == 3 && alltrue([for c in var.private_subnet_cidrs : can(cidrhost(c, 0))])
    error_message = "private_subnet_cidrs must hold exactly three valid IPv4 CIDR blocks."
  }
}

variable "single_nat_gateway" {
  description = "true: one NAT gateway shared by every private subnet (cheaper, one AZ is a single point of failure for egress); false: one NAT gateway per AZ."
  type        = bool
  default     = false
}

variable "cluster_name" {
  description = "Name of the EKS cluster using this VPC; subnets get the kubernetes.io/cluster/<name> tag for load balancer discovery."
  type        = string

  validation {
    condition     = can(regex("^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$", var.cluster_name))
    error_message = "cluster_name must be a valid EKS cluster name (1-100 characters: letters, digits, hyphens, underscores)."
  }
}

variable "flow_log_traffic_type" {
  description = "Traffic captured by the VPC flow log: ACCEPT, REJECT or ALL."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type must be ACCEPT, REJECT or ALL."
  }
}

variable "log_retention_days" {
  description = "Retention of the VPC flow log group, in days (a CloudWatch Logs allowed value of at least 365)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value of at least 365 days."
  }
}

variable "enable_s3_gateway_endpoint" {
  description = "Create a (free) S3 gateway endpoint on the private route tables so ECR layer pulls and chat attachments skip the NAT gateways."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource of this module (on top of the provider default_tags)."
  type        = map(string)
  default     = {}
}
