# Redis 7 (ElastiCache, cluster mode disabled): one primary plus replicas across AZs, automatic
# failover, TLS required in transit, KMS at rest, AUTH token generated here and kept in Secrets
# Manager together with the ready-made rediss:// URL the services read as REDIS_URL.

locals {
  replication_group_id = "${var.name}-redis"
  log_group_prefix     = "/aws/elasticache/${local.replication_group_id}"
}

# ---------------------------------------------------------------------------------------------
# KMS: data at rest, the AUTH secret and the log groups
# ---------------------------------------------------------------------------------------------

module "kms" {
  source = "../kms-key"

  description             = "${var.name}: ElastiCache Redis at rest, AUTH secret and logs"
  alias                   = "${var.name}-redis"
  log_group_name_patterns = ["${local.log_group_prefix}/*"]
  log_statement_sid       = "CloudWatchLogsRedisLogGroups"
  tags                    = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = toset(["slow-log", "engine-log"])

  name              = "${local.log_group_prefix}/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.kms.arn

  tags = var.tags
}

# ---------------------------------------------------------------------------------------------
# AUTH token in Secrets Manager
# ---------------------------------------------------------------------------------------------

# Alphanumeric only: ElastiCache refuses some punctuation and the token goes into a URL.
resource "random_password" "auth_token" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "auth" {
  # checkov:skip=CKV2_AWS_57: ElastiCache AUTH tokens have no AWS-managed rotation; rotating means modify-replication-group with auth_token_update_strategy ROTATE then SET and rolling the pods (README, "Rotating the Redis AUTH token"), not a Secrets Manager rotation Lambda.
  name                    = "${var.name}/redis/auth"
  description             = "AUTH token and rediss:// URL of ${local.replication_group_id}"
  kms_key_id              = module.kms.arn
  recovery_window_in_days = 7

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "auth" {
  secret_id = aws_secretsmanager_secret.auth.id
  secret_string = jsonencode({
    auth_token = random_password.auth_token.result
    host       = aws_elasticache_replication_group.this.primary_endpoint_address
    port       = aws_elasticache_replication_group.this.port
    # Redis OSS AUTH (no ACL user): empty user name before the colon.
    url = "rediss://:${random_password.auth_token.result}@${aws_elasticache_replication_group.this.primary_endpoint_address}:${aws_elasticache_replication_group.this.port}"
  })
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------

resource "aws_elasticache_subnet_group" "this" {
  name        = local.replication_group_id
  description = "Private subnets of ${local.replication_group_id}"
  subnet_ids  = var.subnet_ids

  tags = var.tags
}

# No egress rules: Terraform drops the default allow-all egress and Redis needs none.
resource "aws_security_group" "this" {
  name        = local.replication_group_id
  description = "Redis of ${var.name}: 6379 from the EKS nodes only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = local.replication_group_id })
}

resource "aws_vpc_security_group_ingress_rule" "from_nodes" {
  security_group_id            = aws_security_group.this.id
  description                  = "Redis (TLS) from EKS nodes and pods"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = var.allowed_security_group_id
}

# ---------------------------------------------------------------------------------------------
# Replication group
# ---------------------------------------------------------------------------------------------

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = local.replication_group_id
  description          = "Marquee Redis (${var.name}): rate limits, sessions, presence, caches"

  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  num_cache_clusters   = var.num_cache_clusters
  parameter_group_name = var.parameter_group_name
  port                 = 6379

  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = [aws_security_group.this.id]

  automatic_failover_enabled = true
  multi_az_enabled           = true

  at_rest_encryption_enabled = true
  kms_key_id                 = module.kms.arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = random_password.auth_token.result
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = var.snapshot_retention_limit
  snapshot_window            = var.snapshot_window
  maintenance_window         = var.maintenance_window
  auto_minor_version_upgrade = true
  apply_immediately          = var.apply_immediately

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.this["slow-log"].name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.this["engine-log"].name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "engine-log"
  }

  tags = var.tags
}
