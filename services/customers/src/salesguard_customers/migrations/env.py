from salesguard.migrations import run_env
from salesguard_customers.models import Base

run_env(Base.metadata)
