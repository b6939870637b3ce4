# What the Kubernetes manifests and the operators need; terraform/README.md ("From outputs to
# Kubernetes secrets and config") maps each one to its environment variable. The environments
# expose them all as one output, e.g. terraform output -json platform | jq -r .vpc_id. No output
# holds a secret value: secrets stay in Secrets Manager and are referenced by ARN.

# --- Network ---------------------------------------------------------------------------------

output "vpc_id" {
  description = "VPC ID (e.g. --set vpcId for the AWS Load Balancer Controller, which cannot read it from IMDS)."
  value       = module.network.vpc_id
}

output "vpc_cidr" {
  description = "VPC CIDR: vpcCidr of the Kubernetes overlay settings (egress policies to RDS, Redis, MSK)."
  value       = module.network.vpc_cidr
}

output "nat_gateway_public_ips" {
  description = "Egress IPs of the private subnets (allow-lists at third parties)."
  value       = module.network.nat_gateway_public_ips
}

# --- EKS ---------------------------------------------------------------------------------------

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name <this>)."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the Kubernetes API."
  value       = module.eks.cluster_certificate_authority_data
}

output "oidc_provider_arn" {
  description = "IAM OIDC provider of the cluster, for further IRSA roles."
  value       = module.eks.oidc_provider_arn
}

output "node_security_group_id" {
  description = "Security group of the nodes and pods (the source RDS, Redis and MSK admit)."
  value       = module.eks.node_security_group_id
}

output "kubeconfig_command" {
  description = "Command that writes a kubeconfig entry for the cluster."
  value       = "aws eks update-kubeconfig --region ${local.region} --name ${module.eks.cluster_name}"
}

# --- PostgreSQL -------------------------------------------------------------------------------

output "rds_service_hosts" {
  description = "Service -> PostgreSQL host of its database (the host of DATABASE_URL)."
  value       = module.rds.service_hosts
}

output "rds_service_endpoints" {
  description = "Service -> PostgreSQL host:port of its database."
  value       = module.rds.service_endpoints
}

output "rds_database_names" {
  description = "Service -> database name (also the name of its owner role created by the bootstrap step)."
  value       = module.rds.database_names
}

output "rds_master_username" {
  description = "Master user of the instances (bootstrap only; services use their own roles)."
  value       = module.rds.master_username
}

output "rds_master_secret_arns" {
  description = "Instance (\"shared\" or service) -> Secrets Manager ARN of the RDS-managed master credentials."
  value       = module.rds.master_user_secret_arns
}

output "rds_service_master_secret_arns" {
  description = "Service -> master secret ARN of the instance holding its database."
  value       = module.rds.service_master_user_secret_arns
}

# --- Redis ------------------------------------------------------------------------------------

output "redis_primary_endpoint" {
  description = "Primary endpoint hostname of the Redis replication group (TLS, port 6379)."
  value       = module.elasticache.primary_endpoint_address
}

output "redis_port" {
  description = "Redis port."
  value       = module.elasticache.port
}

output "redis_auth_secret_arn" {
  description = "Secrets Manager ARN of JSON {auth_token, host, port, url}; url is the complete REDIS_URL (rediss://)."
  value       = module.elasticache.auth_secret_arn
}

# --- Kafka ------------------------------------------------------------------------------------

output "msk_bootstrap_brokers_sasl_scram" {
  description = "KAFKA_BROKERS (SASL/SCRAM-SHA-512 over TLS, port 9096): KAFKA_SECURITY_PROTOCOL=sasl_ssl."
  value       = module.msk.bootstrap_brokers_sasl_scram
}

output "msk_bootstrap_brokers_sasl_iam" {
  description = "Bootstrap brokers for SASL/IAM (port 9098), for operators' tooling."
  value       = module.msk.bootstrap_brokers_sasl_iam
}

output "msk_bootstrap_brokers_tls" {
  description = "Bootstrap brokers for TLS without SASL (port 9094); empty while mTLS and unauthenticated access are off."
  value       = module.msk.bootstrap_brokers_tls
}

output "msk_scram_secret_arns" {
  description = "SCRAM user -> Secrets Manager ARN of JSON {username, password} (KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD)."
  value       = module.msk.scram_secret_arns
}

# --- Images -----------------------------------------------------------------------------------

output "ecr_repository_urls" {
  description = "Service -> ECR repository URL (empty map when manage_ecr is false)."
  value       = var.manage_ecr ? module.ecr[0].repository_urls : {}
}

output "github_push_role_arn" {
  description = "Role for the images workflow (repository variable AWS_ECR_PUSH_ROLE_ARN); null when manage_ecr is false."
  value       = var.manage_ecr ? module.ecr[0].github_push_role_arn : null
}

# --- Chat attachments -------------------------------------------------------------------------

output "chat_attachments_bucket" {
  description = "Name of the chat attachments bucket."
  value       = module.attachments.bucket_name
}

output "chat_attachments_store" {
  description = "chat-service's ATTACHMENTS_STORE value (s3://bucket/prefix)."
  value       = module.attachments.attachments_store
}

output "chat_irsa_role_arn" {
  description = "IAM role of chat-service: annotate its service account with eks.amazonaws.com/role-arn=<this>."
  value       = module.chat_irsa.role_arn
}

output "region" {
  description = "AWS region (chat-service's AWS_REGION)."
  value       = local.region
}
