# A customer managed KMS key (yearly rotation, 30-day deletion window) with its alias. The key
# policy gives the account (IAM) full administration, lets CloudWatch Logs of this region use the
# key for the given log groups only (encryption context aws:logs:arn), and appends any further
# statements the caller passes.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  log_group_arns = [
    for name in var.log_group_name_patterns :
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${name}"
  ]

  # One log group: a plain string in the condition, as IAM writes it; several: a list.
  log_group_condition = jsondecode(length(local.log_group_arns) == 1 ? jsonencode(local.log_group_arns[0]) : jsonencode(local.log_group_arns))

  account_statement = {
    Sid       = "AccountAdministration"
    Effect    = "Allow"
    Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
    Action    = "kms:*"
    Resource  = "*"
  }

  logs_statements = length(local.log_group_arns) == 0 ? [] : [{
    Sid       = var.log_statement_sid
    Effect    = "Allow"
    Principal = { Service = "logs.${local.region}.amazonaws.com" }
    Action = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    Resource = "*"
    Condition = {
      ArnLike = {
        "kms:EncryptionContext:aws:logs:arn" = local.log_group_condition
      }
    }
  }]
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = concat([local.account_statement], local.logs_statements, jsondecode(var.policy_statements_json))
  })

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}
