# Chat attachments: a private, versioned, SSE-KMS bucket read and written by chat-service
# (ATTACHMENTS_STORE=s3://<bucket>/<key_prefix>, credentials through IRSA), plus a bucket for its
# S3 server access logs. access_policy_json is the IAM policy for chat-service's IRSA role:
# this bucket (and prefix) and its KMS key, nothing else.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name

  log_bucket_name = "${var.bucket_name}-logs"
  object_arns     = var.key_prefix == "" ? "${aws_s3_bucket.attachments.arn}/*" : "${aws_s3_bucket.attachments.arn}/${var.key_prefix}/*"
}

# ---------------------------------------------------------------------------------------------
# KMS
# ---------------------------------------------------------------------------------------------

module "kms" {
  source = "../kms-key"

  description = "${var.bucket_name}: chat attachments (S3 SSE-KMS)"
  alias       = var.bucket_name
  tags        = var.tags
}

# ---------------------------------------------------------------------------------------------
# Attachments bucket
# ---------------------------------------------------------------------------------------------

resource "aws_s3_bucket" "attachments" {
  # checkov:skip=CKV_AWS_144: No cross-region replication: attachments are protected by versioning and a 30-day noncurrent window in-region; a second-region copy (cost, a second KMS key) is a DR decision not taken yet.
  # checkov:skip=CKV2_AWS_62: No consumer of object events exists; chat-service records every upload in PostgreSQL itself.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy

  tags = merge(var.tags, { Name = var.bucket_name, Purpose = "chat-attachments" })
}

resource "aws_s3_bucket_ownership_controls" "attachments" {
  bucket = aws_s3_bucket.attachments.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "attachments" {
  bucket = aws_s3_bucket.attachments.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "attachments" {
  bucket = aws_s3_bucket.attachments.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "attachments" {
  bucket = aws_s3_bucket.attachments.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = module.kms.arn
    }

    # One data key per bucket instead of a KMS call per object.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "attachments" {
  bucket = aws_s3_bucket.attachments.id

  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "attachments/"

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_s3_bucket_lifecycle_configuration" "attachments" {
  bucket = aws_s3_bucket.attachments.id

  # Every object: purge old versions, failed multipart uploads and orphaned delete markers.
  rule {
    id     = "versions-and-uploads"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    expiration {
      expired_object_delete_marker = true
    }
  }

  # Objects above 128 KiB (the STANDARD_IA minimum billable size) move to infrequent access.
  rule {
    id     = "large-objects-to-ia"
    status = "Enabled"

    filter {
      object_size_greater_than = 131072
    }

    transition {
      days          = var.transition_to_ia_days
      storage_class = "STANDARD_IA"
    }
  }

  depends_on = [aws_s3_bucket_versioning.attachments]
}

resource "aws_s3_bucket_policy" "attachments" {
  bucket = aws_s3_bucket.attachments.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.attachments.arn, "${aws_s3_bucket.attachments.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "DenyOutdatedTls"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.attachments.arn, "${aws_s3_bucket.attachments.arn}/*"]
        Condition = { NumericLessThan = { "s3:TlsVersion" = "1.2" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.attachments]
}

# ---------------------------------------------------------------------------------------------
# Access log bucket
# ---------------------------------------------------------------------------------------------

resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_18: This is the access log target itself; logging it would need yet another bucket (or log into itself, which AWS advises against).
  # checkov:skip=CKV_AWS_145: S3 server access logging only delivers to buckets whose default encryption is SSE-S3; SSE-KMS is not supported for the log target, so it uses AES256.
  # checkov:skip=CKV_AWS_144: Access logs are audit data kept in-region for var.access_log_expiration_days; cross-region replication is not required for them.
  # checkov:skip=CKV2_AWS_62: Nothing consumes object events of the access log bucket.
  bucket        = local.log_bucket_name
  force_destroy = var.force_destroy

  tags = merge(var.tags, { Name = local.log_bucket_name, Purpose = "s3-access-logs" })
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket = aws_s3_bucket.logs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "S3ServerAccessLogsFromAttachments"
        Effect    = "Allow"
        Principal = { Service = "logging.s3.amazonaws.com" }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.logs.arn}/attachments/*"
        Condition = {
          ArnLike      = { "aws:SourceArn" = aws_s3_bucket.attachments.arn }
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.logs]
}
