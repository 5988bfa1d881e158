"""Talk to an EKS cluster's Kubernetes API from Lambda: an IAM bearer token and a small REST client."""
