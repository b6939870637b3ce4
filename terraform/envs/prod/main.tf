# Prod: survives the loss of an availability zone (a NAT gateway per AZ, Multi-AZ PostgreSQL,
# three Redis nodes, brokers in three AZs) and keeps 30 days of database backups. Deletion
# protection is always on here: tearing prod down is a reviewed change to this file.
module "platform" {
  source = "../../modules/platform"

  environment = "prod"

  github_repository                = var.github_repository
  manage_ecr                       = var.manage_ecr
  github_oidc_provider_arn         = var.github_oidc_provider_arn
  eks_cluster_admin_principal_arns = var.eks_cluster_admin_principal_arns
  eks_endpoint_public_access       = var.eks_endpoint_public_access
  eks_endpoint_public_access_cidrs = var.eks_endpoint_public_access_cidrs

  # Raise these only after the same versions ran in envs/staging.
  kubernetes_version = "1.33"
  kafka_version      = "3.8.x"

  vpc_cidr           = "10.50.0.0/16"
  single_nat_gateway = false

  node_instance_types = ["m6i.xlarge", "m6a.xlarge"]
  node_min_size       = 3
  node_desired_size   = 3
  node_max_size       = 9
  node_disk_size      = 80

  # rds_instance_per_service = true gives each service its own instance (about 4x the cost).
  rds_instance_class          = "db.m7g.large"
  rds_multi_az                = true
  rds_allocated_storage       = 100
  rds_max_allocated_storage   = 1000
  rds_backup_retention_period = 30
  rds_monitoring_interval     = 15

  redis_node_type                = "cache.m7g.large"
  redis_num_cache_clusters       = 3
  redis_snapshot_retention_limit = 7

  msk_broker_instance_type = "kafka.m7g.large"
  msk_ebs_volume_size      = 500
  msk_default_partitions   = 6
  msk_enhanced_monitoring  = "PER_BROKER"
}
