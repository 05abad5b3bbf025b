"""The detection simulation (``simulation/``), tiny, on the embedded profile."""
