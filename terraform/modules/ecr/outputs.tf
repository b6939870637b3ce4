output "repository_urls" {
  description = "Service -> repository URL (<account>.dkr.ecr.<region>.amazonaws.com/marquee/<service>)."
  value       = { for s, r in aws_ecr_repository.this : s => r.repository_url }
}

output "repository_arns" {
  description = "Service -> repository ARN."
  value       = { for s, r in aws_ecr_repository.this : s => r.arn }
}

output "registry_id" {
  description = "Registry (account) ID holding the repositories."
  value       = local.account_id
}

output "github_push_role_arn" {
  description = "IAM role for aws-actions/configure-aws-credentials (role-to-assume) in release workflows."
  value       = aws_iam_role.github_push.arn
}

output "github_oidc_provider_arn" {
  description = "ARN of the GitHub Actions OIDC provider used by the push role."
  value       = local.github_oidc_provider_arn
}

output "kms_key_arn" {
  description = "KMS key encrypting the images."
  value       = module.kms.arn
}
