# PostgreSQL 17 on RDS for the Marquee services.
#
# Layout, chosen by var.instance_per_service:
#   false -> one instance "<name>-postgres" holding one database per service;
#   true  -> one instance "<name>-<service>" per service, its initial database created by RDS.
#
# NOTE: the per-service databases and login roles (marquee_auth, marquee_users, ...) are NOT
# created here. The AWS provider can only create an instance (and at most its single initial
# database); creating databases and roles inside an instance needs a SQL connection, i.e. the
# cyrilgdn/postgresql provider running from inside the VPC. They are created once by the
# bootstrap step documented in terraform/README.md ("Bootstrapping the databases"), using the
# master credentials that RDS keeps in Secrets Manager (manage_master_user_password).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  engine_major = split(".", var.engine_version)[0]

  # instance key -> settings
  instances = var.instance_per_service ? {
    for service, database in var.databases : service => {
      identifier = "${var.name}-${service}"
      db_name    = database
    }
    } : {
    shared = {
      identifier = "${var.name}-postgres"
      db_name    = null
    }
  }

  # service -> instance key
  service_instance = { for service, _ in var.databases : service => (var.instance_per_service ? service : "shared") }

  log_exports = ["postgresql", "upgrade"]

  log_groups = {
    for pair in setproduct(keys(local.instances), local.log_exports) :
    "${pair[0]}/${pair[1]}" => "/aws/rds/instance/${local.instances[pair[0]].identifier}/${pair[1]}"
  }
}

# ---------------------------------------------------------------------------------------------
# KMS: storage, Performance Insights, the master secret and the log groups
# ---------------------------------------------------------------------------------------------

module "kms" {
  source = "../kms-key"

  description             = "${var.name}: RDS PostgreSQL storage, Performance Insights, master secret and logs"
  alias                   = "${var.name}-rds"
  log_group_name_patterns = ["/aws/rds/instance/${var.name}-*"]
  log_statement_sid       = "CloudWatchLogsPostgresLogGroups"
  tags                    = var.tags
}

# RDS would create these on first export, unencrypted and kept forever.
resource "aws_cloudwatch_log_group" "this" {
  for_each = local.log_groups

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = module.kms.arn

  tags = var.tags
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------

resource "aws_db_subnet_group" "this" {
  name        = "${var.name}-postgres"
  description = "Private subnets of the ${var.name} PostgreSQL instances"
  subnet_ids  = var.subnet_ids

  tags = var.tags
}

# No egress rules: Terraform drops the default allow-all egress and PostgreSQL needs none.
resource "aws_security_group" "this" {
  name        = "${var.name}-postgres"
  description = "PostgreSQL of ${var.name}: 5432 from the EKS nodes only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-postgres" })
}

resource "aws_vpc_security_group_ingress_rule" "from_nodes" {
  security_group_id            = aws_security_group.this.id
  description                  = "PostgreSQL from EKS nodes and pods"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = var.allowed_security_group_id
}

# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-postgres${local.engine_major}-"
  family      = "postgres${local.engine_major}"
  description = "${var.name} PostgreSQL ${local.engine_major}: TLS only, statement and connection logging"

  # TLS only (the services connect with sslmode=require, see README).
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Schema changes (migrations) are logged; data statements only when slow.
  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.log_min_duration_statement_ms)
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }

  parameter {
    name  = "log_lock_waits"
    value = "1"
  }

  # Temporary files above 10 MiB (kB unit): a sign of work_mem pressure.
  parameter {
    name  = "log_temp_files"
    value = "10240"
  }

  parameter {
    name  = "log_autovacuum_min_duration"
    value = "10000"
  }

  # Abort sessions left idle inside a transaction (they hold locks and block vacuum).
  parameter {
    name  = "idle_in_transaction_session_timeout"
    value = "60000"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

# ---------------------------------------------------------------------------------------------
# Enhanced Monitoring role
# ---------------------------------------------------------------------------------------------

resource "aws_iam_role" "monitoring" {
  name = "${var.name}-rds-monitoring"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
      }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# ---------------------------------------------------------------------------------------------
# Instances
# ---------------------------------------------------------------------------------------------

resource "aws_db_instance" "this" {
  for_each = local.instances

  # checkov:skip=CKV_AWS_157: Multi-AZ is var.multi_az: true in prod; staging sets false on purpose (cost), accepting a longer recovery after an AZ or host failure.
  identifier     = each.value.identifier
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  db_name        = each.value.db_name
  port           = 5432

  # Master credentials: generated, stored (KMS-encrypted) and rotated by RDS in Secrets Manager.
  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = module.kms.arn

  iam_database_authentication_enabled = true

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = module.kms.arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.this.id]
  publicly_accessible    = false
  multi_az               = var.multi_az
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  parameter_group_name = aws_db_parameter_group.this.name

  backup_retention_period   = var.backup_retention_period
  backup_window             = var.backup_window
  maintenance_window        = var.maintenance_window
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${each.value.identifier}-final"

  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  apply_immediately           = var.apply_immediately

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = module.kms.arn
  performance_insights_retention_period = var.performance_insights_retention_period

  monitoring_interval = var.monitoring_interval
  monitoring_role_arn = aws_iam_role.monitoring.arn

  enabled_cloudwatch_logs_exports = local.log_exports

  tags = merge(var.tags, { Name = each.value.identifier })

  lifecycle {
    precondition {
      condition     = var.max_allocated_storage > var.allocated_storage
      error_message = "max_allocated_storage must be greater than allocated_storage."
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy_attachment.monitoring,
  ]
}
