output "cluster_arn" {
  description = "ARN of the MSK cluster."
  value       = aws_msk_cluster.this.arn
}

output "cluster_name" {
  description = "Name of the MSK cluster."
  value       = aws_msk_cluster.this.cluster_name
}

output "bootstrap_brokers_sasl_scram" {
  description = "KAFKA_BROKERS for the services: SASL/SCRAM over TLS (port 9096), with KAFKA_SECURITY_PROTOCOL=sasl_ssl and KAFKA_SASL_MECHANISM=SCRAM-SHA-512."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "bootstrap_brokers_sasl_iam" {
  description = "Bootstrap brokers for SASL/IAM over TLS (port 9098), for operators' tooling; empty when enable_iam_auth is false."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_iam
}

output "bootstrap_brokers_tls" {
  description = "Bootstrap brokers for TLS without SASL (port 9094); empty here because neither mTLS client authentication nor unauthenticated access is enabled."
  value       = aws_msk_cluster.this.bootstrap_brokers_tls
}

output "scram_secret_arns" {
  description = "SCRAM user -> ARN of its Secrets Manager secret (JSON username/password)."
  value       = { for u, s in aws_secretsmanager_secret.scram : u => s.arn }
}

output "security_group_id" {
  description = "Security group of the brokers."
  value       = aws_security_group.this.id
}

output "kms_key_arn" {
  description = "KMS key encrypting data at rest, the SCRAM secrets and the broker logs."
  value       = module.kms.arn
}
