"""The attendance service: people directory, visit plans, check-ins, photos, call logs."""

# The name alerts carry as their source, and the service's name in settings and logs.
SERVICE_NAME = "attendance"
