"""Deployment checks without a cluster: the Helm chart, skaffold.yaml and the Dockerfiles."""
