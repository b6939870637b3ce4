# One Marquee environment on AWS: the network, EKS, PostgreSQL, Redis, Kafka, the ECR
# repositories with the GitHub push role, and the chat attachments bucket with chat-service's
# IRSA role. The roots in envs/<environment> call this module with their sizing; the AWS
# provider (region, account guard, default tags) is configured there.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

# Zones pinned by name (the region's a/b/c unless availability_zones says otherwise): the set
# cannot grow when AWS adds a zone, and a zone that is not available fails the plan.
data "aws_availability_zones" "selected" {
  state = "available"

  filter {
    name   = "zone-name"
    values = length(var.availability_zones) > 0 ? var.availability_zones : ["${local.region}a", "${local.region}b", "${local.region}c"]
  }
}

locals {
  name   = "${var.project}-${var.environment}"
  region = data.aws_region.current.name

  azs = sort(data.aws_availability_zones.selected.names)

  # Private subnets take the first three eighths of the VPC (a /19 each in a /16: pods get VPC
  # IPs), public subnets three small blocks in the last eighth.
  private_subnet_cidrs = length(var.private_subnet_cidrs) > 0 ? var.private_subnet_cidrs : [for i in range(3) : cidrsubnet(var.vpc_cidr, 3, i)]
  public_subnet_cidrs  = length(var.public_subnet_cidrs) > 0 ? var.public_subnet_cidrs : [for i in range(3) : cidrsubnet(var.vpc_cidr, 6, 56 + i)]

  # Every image the release workflow builds (Dockerfile targets = binaries).
  services = ["auth-service", "user-service", "movies-service", "chat-service", "gateway"]

  # Service -> its own PostgreSQL database (the gateway has none).
  databases = {
    "auth-service"   = "marquee_auth"
    "user-service"   = "marquee_users"
    "movies-service" = "marquee_movies"
    "chat-service"   = "marquee_chat"
  }

  attachments_bucket_name = var.attachments_bucket_name != "" ? var.attachments_bucket_name : "${local.name}-chat-attachments-${data.aws_caller_identity.current.account_id}"
}

module "network" {
  source = "../network"

  name                 = local.name
  cluster_name         = local.name
  vpc_cidr             = var.vpc_cidr
  azs                  = local.azs
  public_subnet_cidrs  = local.public_subnet_cidrs
  private_subnet_cidrs = local.private_subnet_cidrs
  single_nat_gateway   = var.single_nat_gateway
  log_retention_days   = var.log_retention_days
}

module "eks" {
  source = "../eks"

  cluster_name                 = local.name
  kubernetes_version           = var.kubernetes_version
  vpc_id                       = module.network.vpc_id
  vpc_cidr                     = module.network.vpc_cidr
  subnet_ids                   = module.network.private_subnet_ids
  endpoint_public_access       = var.eks_endpoint_public_access
  endpoint_public_access_cidrs = var.eks_endpoint_public_access_cidrs
  cluster_admin_principal_arns = var.eks_cluster_admin_principal_arns
  node_instance_types          = var.node_instance_types
  node_ami_type                = var.node_ami_type
  node_capacity_type           = var.node_capacity_type
  node_min_size                = var.node_min_size
  node_max_size                = var.node_max_size
  node_desired_size            = var.node_desired_size
  node_disk_size               = var.node_disk_size
  log_retention_days           = var.log_retention_days
}

module "rds" {
  source = "../rds"

  name                                  = local.name
  vpc_id                                = module.network.vpc_id
  subnet_ids                            = module.network.private_subnet_ids
  allowed_security_group_id             = module.eks.node_security_group_id
  databases                             = local.databases
  instance_per_service                  = var.rds_instance_per_service
  instance_class                        = var.rds_instance_class
  allocated_storage                     = var.rds_allocated_storage
  max_allocated_storage                 = var.rds_max_allocated_storage
  multi_az                              = var.rds_multi_az
  backup_retention_period               = var.rds_backup_retention_period
  deletion_protection                   = var.rds_deletion_protection
  performance_insights_retention_period = var.rds_performance_insights_retention_period
  monitoring_interval                   = var.rds_monitoring_interval
  log_retention_days                    = var.log_retention_days
}

module "elasticache" {
  source = "../elasticache"

  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  allowed_security_group_id = module.eks.node_security_group_id
  node_type                 = var.redis_node_type
  num_cache_clusters        = var.redis_num_cache_clusters
  snapshot_retention_limit  = var.redis_snapshot_retention_limit
  log_retention_days        = var.log_retention_days
}

module "msk" {
  source = "../msk"

  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  allowed_security_group_id = module.eks.node_security_group_id
  kafka_version             = var.kafka_version
  broker_instance_type      = var.msk_broker_instance_type
  number_of_broker_nodes    = var.msk_number_of_broker_nodes
  ebs_volume_size           = var.msk_ebs_volume_size
  default_partitions        = var.msk_default_partitions
  enable_iam_auth           = var.msk_enable_iam_auth
  enhanced_monitoring       = var.msk_enhanced_monitoring
  log_retention_days        = var.log_retention_days
}

# ECR repositories and the names marquee/<service> are account-wide: when staging and prod share
# one AWS account, only one environment may manage them (manage_ecr = false in the other).
module "ecr" {
  source = "../ecr"
  count  = var.manage_ecr ? 1 : 0

  name                        = local.name
  services                    = local.services
  github_repository           = var.github_repository
  github_ref_patterns         = var.github_ref_patterns
  create_github_oidc_provider = var.github_oidc_provider_arn == ""
  github_oidc_provider_arn    = var.github_oidc_provider_arn
}

module "attachments" {
  source = "../attachments"

  bucket_name   = local.attachments_bucket_name
  key_prefix    = var.attachments_key_prefix
  force_destroy = var.attachments_force_destroy
}

module "chat_irsa" {
  source = "../irsa"

  role_name         = "${local.name}-chat-service"
  oidc_provider_arn = module.eks.oidc_provider_arn
  namespace         = var.kubernetes_namespace
  service_account   = var.chat_service_account
  policy_json       = module.attachments.access_policy_json
}
