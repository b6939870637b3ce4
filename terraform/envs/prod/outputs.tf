# Every output of modules/platform (described in its outputs.tf) as one object, e.g.
#   terraform output -json platform | jq -r .cluster_name
output "platform" {
  description = "The platform module's outputs: VPC, cluster, database, Redis, Kafka, ECR and attachments identifiers (no secret values)."
  value       = module.platform
}

output "kubeconfig_command" {
  description = "Command that writes a kubeconfig entry for the cluster."
  value       = module.platform.kubeconfig_command
}
