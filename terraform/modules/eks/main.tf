data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition

  # EKS writes control plane logs to this fixed name; creating it first lets us set KMS and
  # retention (EKS would otherwise create it unencrypted with infinite retention).
  log_group_name = "/aws/eks/${var.cluster_name}/cluster"

  # Ports the control plane opens towards nodes: kubelet (logs, exec, metrics), and the usual
  # admission webhook / aggregated API ports (metrics-server 4443/10250, AWS Load Balancer
  # Controller 9443, cert-manager and others 443/6443/8443). A webhook on another port needs
  # one more entry here.
  control_plane_to_node_ports = {
    "kubelet"       = 10250
    "webhooks-443"  = 443
    "webhooks-4443" = 4443
    "webhooks-6443" = 6443
    "webhooks-8443" = 8443
    "webhooks-9443" = 9443
  }
}

# ---------------------------------------------------------------------------------------------
# KMS: envelope encryption of Kubernetes Secrets and of the control plane log group
# ---------------------------------------------------------------------------------------------

module "kms" {
  source = "../kms-key"

  description             = "${var.cluster_name}: EKS secrets envelope encryption and control plane logs"
  alias                   = "${var.cluster_name}-eks"
  log_group_name_patterns = [local.log_group_name]
  log_statement_sid       = "CloudWatchLogsControlPlane"
  tags                    = var.tags
}

resource "aws_cloudwatch_log_group" "cluster" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = module.kms.arn

  tags = var.tags
}

# ---------------------------------------------------------------------------------------------
# IAM: control plane role and node role
# ---------------------------------------------------------------------------------------------

resource "aws_iam_role" "cluster" {
  name = "${var.cluster_name}-eks-cluster"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_iam_role" "node" {
  name = "${var.cluster_name}-eks-node"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    # Session Manager instead of SSH: no key pair, no port 22.
    "AmazonSSMManagedInstanceCore",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

# ---------------------------------------------------------------------------------------------
# Security groups
#
# cluster: extra security group on the control plane ENIs (EKS also attaches its own
#          "cluster security group", exported as cluster_primary_security_group_id).
# node:    the only security group of the worker nodes (set by the launch template); pods use
#          it too (VPC CNI secondary IPs), so it is the source that RDS, ElastiCache and MSK
#          admit. Tagged kubernetes.io/cluster/<name>=owned so the AWS Load Balancer
#          Controller adds its load balancer rules to it.
# ---------------------------------------------------------------------------------------------

resource "aws_security_group" "cluster" {
  name        = "${var.cluster_name}-eks-cluster"
  description = "EKS control plane ENIs of ${var.cluster_name}"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.cluster_name}-eks-cluster" })
}

resource "aws_security_group" "node" {
  name        = "${var.cluster_name}-eks-node"
  description = "EKS worker nodes and pods of ${var.cluster_name}"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, {
    Name                                        = "${var.cluster_name}-eks-node"
    "kubernetes.io/cluster/${var.cluster_name}" = "owned"
  })
}

resource "aws_vpc_security_group_ingress_rule" "cluster_from_nodes" {
  security_group_id            = aws_security_group.cluster.id
  description                  = "Kubernetes API from nodes and pods"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.node.id
}

resource "aws_vpc_security_group_egress_rule" "cluster_to_nodes" {
  for_each = local.control_plane_to_node_ports

  security_group_id            = aws_security_group.cluster.id
  description                  = "Control plane to nodes: ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.node.id
}

resource "aws_vpc_security_group_ingress_rule" "node_from_cluster" {
  for_each = local.control_plane_to_node_ports

  security_group_id            = aws_security_group.node.id
  description                  = "From the control plane: ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.cluster.id
}

resource "aws_vpc_security_group_ingress_rule" "node_from_node" {
  security_group_id            = aws_security_group.node.id
  description                  = "Node-to-node and pod-to-pod traffic (CoreDNS, services, gateway upstreams)"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.node.id
}

resource "aws_vpc_security_group_egress_rule" "node_to_vpc" {
  security_group_id = aws_security_group.node.id
  description       = "Anything inside the VPC: pods, control plane, RDS, ElastiCache, MSK, VPC endpoints"
  ip_protocol       = "-1"
  cidr_ipv4         = var.vpc_cidr
}

resource "aws_vpc_security_group_egress_rule" "node_https" {
  security_group_id = aws_security_group.node.id
  description       = "HTTPS to AWS APIs (ECR, STS, S3, CloudWatch), container registries and api.themoviedb.org via NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# ---------------------------------------------------------------------------------------------
# Cluster
# ---------------------------------------------------------------------------------------------

resource "aws_eks_cluster" "this" {
  name     = var.cluster_name
  role_arn = aws_iam_role.cluster.arn
  version  = var.kubernetes_version

  enabled_cluster_log_types = var.cluster_log_types

  vpc_config {
    subnet_ids              = var.subnet_ids
    security_group_ids      = [aws_security_group.cluster.id]
    endpoint_private_access = true
    endpoint_public_access  = var.endpoint_public_access
    public_access_cidrs     = var.endpoint_public_access ? var.endpoint_public_access_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]

    provider {
      key_arn = module.kms.arn
    }
  }

  # Access entries (the EKS API) instead of the aws-auth ConfigMap.
  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = !var.endpoint_public_access || length(var.endpoint_public_access_cidrs) > 0
      error_message = "endpoint_public_access = true needs at least one CIDR in endpoint_public_access_cidrs."
    }
  }

  depends_on = [
    aws_iam_role_policy_attachment.cluster,
    aws_cloudwatch_log_group.cluster,
  ]
}

resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.cluster_admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"

  tags = var.tags
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = toset(var.cluster_admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.admin[each.value].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

# ---------------------------------------------------------------------------------------------
# IRSA: the cluster's OIDC issuer as an IAM identity provider
# ---------------------------------------------------------------------------------------------

# No thumbprint_list: IAM fetches it at creation and validates EKS issuers against its own
# trusted CA library anyway (aws provider >= 5.81 makes the argument optional).
resource "aws_iam_openid_connect_provider" "this" {
  url            = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list = ["sts.amazonaws.com"]

  tags = merge(var.tags, { Name = "${var.cluster_name}-irsa" })
}

# ---------------------------------------------------------------------------------------------
# Managed node group (private subnets, IMDSv2 only, encrypted gp3 root volume)
# ---------------------------------------------------------------------------------------------

resource "aws_launch_template" "node" {
  name_prefix            = "${var.cluster_name}-node-"
  description            = "Managed node group template of ${var.cluster_name}"
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.node.id]

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.node_disk_size
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  # IMDSv2 only, and a hop limit of 1 so pods cannot borrow the node role: workloads get AWS
  # credentials through IRSA. (Add-ons that read the region/VPC ID from IMDS, such as the AWS
  # Load Balancer Controller, must be given them as flags.)
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-node" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-node" })
  }

  tags = var.tags
}

resource "aws_eks_node_group" "default" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "${var.cluster_name}-default"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.subnet_ids
  version         = var.kubernetes_version
  ami_type        = var.node_ami_type
  capacity_type   = var.node_capacity_type
  instance_types  = var.node_instance_types

  launch_template {
    id      = aws_launch_template.node.id
    version = aws_launch_template.node.latest_version
  }

  scaling_config {
    min_size     = var.node_min_size
    max_size     = var.node_max_size
    desired_size = var.node_desired_size
  }

  update_config {
    max_unavailable_percentage = 33
  }

  labels = {
    "marquee.io/node-group" = "default"
  }

  tags = var.tags

  lifecycle {
    # An autoscaler owns the current size once the group exists.
    ignore_changes = [scaling_config[0].desired_size]

    precondition {
      condition     = var.node_min_size <= var.node_desired_size && var.node_desired_size <= var.node_max_size
      error_message = "node sizes must satisfy node_min_size <= node_desired_size <= node_max_size."
    }
  }

  depends_on = [
    aws_iam_role_policy_attachment.node,
    aws_eks_addon.before_nodes,
    aws_vpc_security_group_ingress_rule.cluster_from_nodes,
    aws_vpc_security_group_ingress_rule.node_from_cluster,
    aws_vpc_security_group_egress_rule.node_https,
    aws_vpc_security_group_egress_rule.node_to_vpc,
  ]
}

# ---------------------------------------------------------------------------------------------
# Core add-ons, managed by EKS (versions: the default for the cluster version)
# ---------------------------------------------------------------------------------------------

resource "aws_eks_addon" "before_nodes" {
  for_each = toset(["vpc-cni", "kube-proxy"])

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.value
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"

  tags = var.tags
}

resource "aws_eks_addon" "coredns" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "coredns"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"

  tags = var.tags

  # CoreDNS pods need nodes to schedule on.
  depends_on = [aws_eks_node_group.default]
}
