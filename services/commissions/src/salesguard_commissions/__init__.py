"""The commissions service: plans, runs, statements; its rules in :mod:`.rules`."""

# The name alerts carry as their source, and the service's name in settings and logs.
SERVICE_NAME = "commissions"
