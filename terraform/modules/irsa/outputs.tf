output "role_arn" {
  description = "ARN of the role: the value of the service account annotation eks.amazonaws.com/role-arn."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the role."
  value       = aws_iam_role.this.name
}

output "service_account_annotation" {
  description = "Annotation to put on the Kubernetes service account."
  value       = { "eks.amazonaws.com/role-arn" = aws_iam_role.this.arn }
}
