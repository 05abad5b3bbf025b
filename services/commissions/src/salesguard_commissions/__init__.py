"""The commissions service: plans, runs, statements (M1–M5)."""

# The name alerts carry as their source, and the service's name in settings and logs.
SERVICE_NAME = "commissions"
