# hashicorp/random is required (and pinned) by the msk and elasticache modules.
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.81"
    }
  }
}

provider "aws" {
  region              = var.region
  allowed_account_ids = var.aws_account_id == "" ? null : [var.aws_account_id]

  default_tags {
    tags = merge(var.tags, {
      Project     = "marquee"
      Environment = "prod"
      ManagedBy   = "terraform"
      Repository  = var.github_repository
    })
  }
}
