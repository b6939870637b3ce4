# ECR repositories marquee/<service> (immutable tags, scan on push, KMS) and the IAM role that
# GitHub Actions assumes through OIDC to push release images.

data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id

  github_oidc_provider_arn = var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : var.github_oidc_provider_arn
}

# ---------------------------------------------------------------------------------------------
# Repositories
# ---------------------------------------------------------------------------------------------

# ECR takes a grant on this key when a repository is created; pushers and pullers need no KMS
# permissions of their own.
module "kms" {
  source = "../kms-key"

  description = "${var.name}: ECR image encryption"
  alias       = "${var.name}-ecr"
  tags        = var.tags
}

resource "aws_ecr_repository" "this" {
  for_each = toset(var.services)

  name                 = "${var.namespace}/${each.value}"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = false

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = module.kms.arn
  }

  tags = var.tags
}

# The images workflow tags each image <version> (1.2.3, from the v1.2.3 git tag) and
# sha-<short commit>. Rules run in priority order and an image selected by a rule is never
# expired by a later one, so release images (a tag like 1.2.3, matched by *.*.*) are only ever
# counted by rule 1 even though they also carry a sha- tag. (One pattern: the entries of a
# tagPatternList/tagPrefixList are ANDed, an image must match every one of them.)
#
# Deliberately no "expire untagged images" rule: images are pushed as OCI indexes (provenance
# and SBOM attestations), whose platform manifests are untagged in ECR; expiring those by age
# could break a still-deployed release.
resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Keep the last ${var.keep_release_images} release images (version tags)"
        selection = {
          tagStatus      = "tagged"
          tagPatternList = ["*.*.*"]
          countType      = "imageCountMoreThan"
          countNumber    = var.keep_release_images
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the last ${var.keep_sha_images} commit-only images (sha-*)"
        selection = {
          tagStatus     = "tagged"
          tagPrefixList = ["sha-"]
          countType     = "imageCountMoreThan"
          countNumber   = var.keep_sha_images
        }
        action = { type = "expire" }
      },
    ]
  })
}

# ---------------------------------------------------------------------------------------------
# GitHub Actions OIDC push role
# ---------------------------------------------------------------------------------------------

# No thumbprint_list: IAM validates token.actions.githubusercontent.com against its trusted CA
# library (since July 2023); aws provider >= 5.81 makes the argument optional.
resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_github_oidc_provider ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]

  tags = merge(var.tags, { Name = "github-actions" })
}

resource "aws_iam_role" "github_push" {
  name                 = "${var.name}-github-ecr-push"
  description          = "GitHub Actions (${var.github_repository}, ${join(", ", var.github_ref_patterns)}) pushes images to ${var.namespace}/*"
  max_session_duration = 3600

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = local.github_oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
        }
        StringLike = {
          "token.actions.githubusercontent.com:sub" = [for r in var.github_ref_patterns : "repo:${var.github_repository}:ref:${r}"]
        }
      }
    }]
  })

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.create_github_oidc_provider || var.github_oidc_provider_arn != ""
      error_message = "Set github_oidc_provider_arn when create_github_oidc_provider is false."
    }
  }
}

resource "aws_iam_role_policy" "github_push" {
  name = "ecr-push"
  role = aws_iam_role.github_push.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # GetAuthorizationToken has no resource-level permissions.
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken"
        Resource = "*"
      },
      {
        Sid    = "PushMarqueeRepositories"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:BatchGetImage",
          "ecr:CompleteLayerUpload",
          "ecr:DescribeImages",
          "ecr:DescribeRepositories",
          "ecr:GetDownloadUrlForLayer",
          "ecr:InitiateLayerUpload",
          "ecr:PutImage",
          "ecr:UploadLayerPart",
        ]
        Resource = [for r in aws_ecr_repository.this : r.arn]
      },
    ]
  })
}
