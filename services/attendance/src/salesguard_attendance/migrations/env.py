from salesguard.migrations import run_env
from salesguard_attendance.models import Base

run_env(Base.metadata)
