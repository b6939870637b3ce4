# Amazon MSK (provisioned, Kafka 3.x): brokers spread over three AZs, TLS only (client-broker
# and inter-broker), SASL/SCRAM-SHA-512 for the services (port 9096) and optionally SASL/IAM
# for operators (port 9098), KMS at rest, broker logs to CloudWatch.
#
# Topics are NOT created here (auto.create.topics.enable=false and the AWS provider has no
# topic resource): the deployment creates them, see terraform/README.md ("Kafka topics").

locals {
  cluster_name   = "${var.name}-kafka"
  log_group_name = "/aws/msk/${local.cluster_name}/broker"

  # Client ports opened to the EKS nodes: 9096 SASL/SCRAM, 9098 SASL/IAM, and the Prometheus
  # JMX (11001) and node (11002) exporters. (9094, TLS without SASL, only exists with mTLS client
  # authentication or unauthenticated access, both off.)
  client_ports = merge(
    {
      sasl_scram = 9096
      jmx        = 11001
      node       = 11002
    },
    var.enable_iam_auth ? { sasl_iam = 9098 } : {},
  )
}

# ---------------------------------------------------------------------------------------------
# KMS: data at rest, SCRAM secrets (MSK requires a customer managed key) and broker logs
# ---------------------------------------------------------------------------------------------

module "kms" {
  source = "../kms-key"

  description             = "${var.name}: MSK data at rest, SCRAM secrets and broker logs"
  alias                   = "${var.name}-msk"
  log_group_name_patterns = [local.log_group_name]
  log_statement_sid       = "CloudWatchLogsBrokerLogGroup"
  tags                    = var.tags
}

resource "aws_cloudwatch_log_group" "broker" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = module.kms.arn

  tags = var.tags
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------

# No egress rules: Terraform drops the default allow-all egress; brokers only answer clients.
resource "aws_security_group" "this" {
  name        = local.cluster_name
  description = "MSK brokers of ${var.name}: client ports from the EKS nodes only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = local.cluster_name })
}

resource "aws_vpc_security_group_ingress_rule" "from_nodes" {
  for_each = local.client_ports

  security_group_id            = aws_security_group.this.id
  description                  = "Kafka ${each.key} (${each.value}) from EKS nodes and pods"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = var.allowed_security_group_id
}

# ---------------------------------------------------------------------------------------------
# Broker configuration
# ---------------------------------------------------------------------------------------------

resource "aws_msk_configuration" "this" {
  name           = "${local.cluster_name}-${replace(var.kafka_version, ".", "-")}"
  description    = "Marquee broker settings: no topic auto-creation, RF 3, min ISR 2"
  kafka_versions = [var.kafka_version]

  # allow.everyone.if.no.acl.found stays true: only SCRAM/IAM-authenticated clients get in
  # (unauthenticated access is off) and no ACLs are defined yet; set it false once per-service
  # users and ACLs exist.
  server_properties = <<-PROPERTIES
    auto.create.topics.enable=false
    default.replication.factor=3
    min.insync.replicas=2
    num.partitions=${var.default_partitions}
    unclean.leader.election.enable=false
    delete.topic.enable=true
    log.retention.hours=${var.log_retention_hours}
    offsets.topic.replication.factor=3
    transaction.state.log.replication.factor=3
    transaction.state.log.min.isr=2
    allow.everyone.if.no.acl.found=true
  PROPERTIES

  lifecycle {
    create_before_destroy = true
  }
}

# ---------------------------------------------------------------------------------------------
# Cluster
# ---------------------------------------------------------------------------------------------

resource "aws_msk_cluster" "this" {
  cluster_name           = local.cluster_name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.number_of_broker_nodes
  enhanced_monitoring    = var.enhanced_monitoring

  broker_node_group_info {
    instance_type   = var.broker_instance_type
    client_subnets  = var.subnet_ids
    security_groups = [aws_security_group.this.id]

    storage_info {
      ebs_storage_info {
        volume_size = var.ebs_volume_size
      }
    }

    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  client_authentication {
    unauthenticated = false

    sasl {
      scram = true
      iam   = var.enable_iam_auth
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = module.kms.arn

    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.broker.name
      }
    }
  }

  open_monitoring {
    prometheus {
      jmx_exporter {
        enabled_in_broker = true
      }

      node_exporter {
        enabled_in_broker = true
      }
    }
  }

  tags = var.tags
}

# ---------------------------------------------------------------------------------------------
# SASL/SCRAM users: secrets named AmazonMSK_*, encrypted with the customer managed key
# ---------------------------------------------------------------------------------------------

resource "random_password" "scram" {
  for_each = toset(var.scram_usernames)

  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "scram" {
  for_each = toset(var.scram_usernames)

  # checkov:skip=CKV2_AWS_57: MSK SCRAM secrets have no AWS-provided rotation function; rotate by writing a new password to the secret (MSK re-reads associated secrets) and rolling the pods, as the README describes.
  name                    = "AmazonMSK_${local.cluster_name}/${each.value}"
  description             = "SASL/SCRAM-SHA-512 credentials of Kafka user ${each.value} on ${local.cluster_name}"
  kms_key_id              = module.kms.arn
  recovery_window_in_days = 7

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "scram" {
  for_each = toset(var.scram_usernames)

  secret_id = aws_secretsmanager_secret.scram[each.value].id
  secret_string = jsonencode({
    username = each.value
    password = random_password.scram[each.value].result
  })
}

# MSK reads the associated secrets with its service principal.
resource "aws_secretsmanager_secret_policy" "scram" {
  for_each = toset(var.scram_usernames)

  secret_arn = aws_secretsmanager_secret.scram[each.value].arn

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AWSKafkaResourcePolicy"
      Effect    = "Allow"
      Principal = { Service = "kafka.amazonaws.com" }
      Action    = "secretsmanager:getSecretValue"
      Resource  = aws_secretsmanager_secret.scram[each.value].arn
    }]
  })
}

resource "aws_msk_scram_secret_association" "this" {
  cluster_arn     = aws_msk_cluster.this.arn
  secret_arn_list = [for u in var.scram_usernames : aws_secretsmanager_secret.scram[u].arn]

  depends_on = [
    aws_secretsmanager_secret_version.scram,
    aws_secretsmanager_secret_policy.scram,
  ]
}
