"""Storage backends: the contract (base), in-process (memory) and Redis Stack (redis)."""
