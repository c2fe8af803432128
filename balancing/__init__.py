"""Load-balancing pools of credentials per model: round-robin, cooldowns and failover."""
