from salesguard.migrations import run_env
from salesguard_orders.models import Base

run_env(Base.metadata)
