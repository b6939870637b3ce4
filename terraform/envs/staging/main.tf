# Staging: the prod platform at test size. Cheaper on purpose: one NAT gateway, burstable
# instances, single-AZ PostgreSQL, two Redis nodes, small brokers, short backups and snapshots.
# New Kubernetes and Kafka versions are rolled out here first, then in envs/prod.
module "platform" {
  source = "../../modules/platform"

  environment = "staging"

  github_repository                = var.github_repository
  manage_ecr                       = var.manage_ecr
  github_oidc_provider_arn         = var.github_oidc_provider_arn
  eks_cluster_admin_principal_arns = var.eks_cluster_admin_principal_arns
  eks_endpoint_public_access       = var.eks_endpoint_public_access
  eks_endpoint_public_access_cidrs = var.eks_endpoint_public_access_cidrs

  kubernetes_version = "1.33"
  kafka_version      = "3.8.x"

  # Egress of every private subnet goes through the NAT gateway of the first AZ.
  vpc_cidr           = "10.40.0.0/16"
  single_nat_gateway = true

  # node_capacity_type = "SPOT" would roughly halve the node cost.
  node_instance_types = ["t3.large"]
  node_min_size       = 2
  node_desired_size   = 2
  node_max_size       = 4
  node_disk_size      = 50

  # Single-AZ: an AZ or host failure means a longer recovery (modules/rds suppresses CKV_AWS_157).
  rds_instance_class          = "db.t4g.medium"
  rds_multi_az                = false
  rds_allocated_storage       = 20
  rds_max_allocated_storage   = 100
  rds_backup_retention_period = 7
  rds_monitoring_interval     = 60
  rds_deletion_protection     = var.rds_deletion_protection

  redis_node_type                = "cache.t4g.small"
  redis_num_cache_clusters       = 2
  redis_snapshot_retention_limit = 1

  # kafka.t3.small is meant for tests; 3 partitions are plenty for the test load.
  msk_broker_instance_type = "kafka.t3.small"
  msk_ebs_volume_size      = 20
  msk_default_partitions   = 3
  msk_enhanced_monitoring  = "DEFAULT"

  attachments_force_destroy = var.attachments_force_destroy
}
