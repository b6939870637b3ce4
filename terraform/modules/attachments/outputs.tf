output "bucket_name" {
  description = "Name of the chat attachments bucket."
  value       = aws_s3_bucket.attachments.id
}

output "bucket_arn" {
  description = "ARN of the chat attachments bucket."
  value       = aws_s3_bucket.attachments.arn
}

output "attachments_store" {
  description = "Value of chat-service's ATTACHMENTS_STORE."
  value       = var.key_prefix == "" ? "s3://${aws_s3_bucket.attachments.id}" : "s3://${aws_s3_bucket.attachments.id}/${var.key_prefix}"
}

output "log_bucket_name" {
  description = "Name of the bucket receiving the attachments bucket's server access logs."
  value       = aws_s3_bucket.logs.id
}

output "kms_key_arn" {
  description = "KMS key encrypting the attachments."
  value       = module.kms.arn
}

output "access_policy_json" {
  description = "IAM policy for chat-service: read/write/delete objects under the attachments prefix of this bucket only, and use its KMS key through S3."
  value = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListAttachmentsBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = aws_s3_bucket.attachments.arn
      },
      {
        Sid    = "ReadWriteAttachments"
        Effect = "Allow"
        Action = [
          "s3:GetObject",
          "s3:PutObject",
          "s3:DeleteObject",
          "s3:AbortMultipartUpload",
          "s3:ListMultipartUploadParts",
        ]
        Resource = local.object_arns
      },
      {
        Sid      = "UseAttachmentsKeyThroughS3"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = module.kms.arn
        Condition = {
          StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
        }
      },
    ]
  })
}
