output "instance_identifiers" {
  description = "Instance key (\"shared\" or the service name) -> RDS instance identifier."
  value       = { for k, db in aws_db_instance.this : k => db.identifier }
}

output "service_hosts" {
  description = "Service name -> hostname of the PostgreSQL instance holding its database."
  value       = { for service, key in local.service_instance : service => aws_db_instance.this[key].address }
}

output "service_endpoints" {
  description = "Service name -> host:port of the PostgreSQL instance holding its database."
  value       = { for service, key in local.service_instance : service => aws_db_instance.this[key].endpoint }
}

output "port" {
  description = "PostgreSQL port."
  value       = 5432
}

output "database_names" {
  description = "Service name -> its database name."
  value       = var.databases
}

output "master_username" {
  description = "Master user name of every instance."
  value       = var.master_username
}

output "master_user_secret_arns" {
  description = "Instance key -> ARN of the Secrets Manager secret (JSON username/password) holding the master credentials, managed and rotated by RDS."
  value       = { for k, db in aws_db_instance.this : k => db.master_user_secret[0].secret_arn }
}

output "service_master_user_secret_arns" {
  description = "Service name -> ARN of the master secret of the instance holding its database (used by the bootstrap step)."
  value       = { for service, key in local.service_instance : service => aws_db_instance.this[key].master_user_secret[0].secret_arn }
}

output "security_group_id" {
  description = "Security group of the PostgreSQL instances."
  value       = aws_security_group.this.id
}

output "kms_key_arn" {
  description = "KMS key encrypting storage, Performance Insights, the master secret and the log groups."
  value       = module.kms.arn
}
