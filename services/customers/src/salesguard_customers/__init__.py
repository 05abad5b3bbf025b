"""The customers service: registry, follow-ups, audit trail and exports."""

# The name alerts carry as their source, and the service's name in settings and logs.
SERVICE_NAME = "customers"
