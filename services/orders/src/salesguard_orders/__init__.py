"""The orders service: orders, approval chains, payments, shipments, reconciliation."""

# The name alerts carry as their source, and the service's name in settings and logs.
SERVICE_NAME = "orders"
