# IAM role for a Kubernetes service account (IRSA): only the pods running as
# system:serviceaccount:<namespace>:<service_account> in the cluster behind oidc_provider_arn
# can assume it, through sts:AssumeRoleWithWebIdentity with their projected token.
#
# The service account must carry the annotation
#   eks.amazonaws.com/role-arn: <output role_arn>

locals {
  # "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC" ->
  # "oidc.eks.eu-west-1.amazonaws.com/id/ABC", the prefix of the token's claim keys.
  issuer = element(split(":oidc-provider/", var.oidc_provider_arn), 1)
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  description          = "IRSA role of ${var.namespace}/${var.service_account}"
  max_session_duration = var.max_session_duration

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = var.oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "${local.issuer}:sub" = "system:serviceaccount:${var.namespace}:${var.service_account}"
          "${local.issuer}:aud" = "sts.amazonaws.com"
        }
      }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.role_name}-access"
  role   = aws_iam_role.this.id
  policy = var.policy_json
}
