output "replication_group_id" {
  description = "ID of the Redis replication group."
  value       = aws_elasticache_replication_group.this.id
}

output "primary_endpoint_address" {
  description = "Hostname of the primary (follows failovers); use it in REDIS_URL."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "reader_endpoint_address" {
  description = "Hostname balancing over the replicas (read-only)."
  value       = aws_elasticache_replication_group.this.reader_endpoint_address
}

output "port" {
  description = "Redis port (TLS)."
  value       = aws_elasticache_replication_group.this.port
}

output "auth_secret_arn" {
  description = "ARN of the Secrets Manager secret holding JSON {auth_token, host, port, url}; url is the complete REDIS_URL (rediss://:<token>@<primary>:6379)."
  value       = aws_secretsmanager_secret.auth.arn
}

output "security_group_id" {
  description = "Security group of the replication group."
  value       = aws_security_group.this.id
}

output "kms_key_arn" {
  description = "KMS key encrypting data at rest, the AUTH secret and the log groups."
  value       = module.kms.arn
}
