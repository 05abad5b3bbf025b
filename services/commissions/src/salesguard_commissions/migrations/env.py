from salesguard.migrations import run_env
from salesguard_commissions.models import Base

run_env(Base.metadata)
