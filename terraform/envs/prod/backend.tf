# Remote state in S3, partial configuration: bucket, key, region and the lock settings come from
# backend.hcl (copy backend.hcl.example), never from this file:
#
#   terraform init -backend-config=backend.hcl
#
# The state holds generated secrets (the Redis AUTH token, the Kafka SCRAM passwords): the state
# bucket must be private, versioned and encrypted (see terraform/README.md, "Remote state").
terraform {
  backend "s3" {}
}
