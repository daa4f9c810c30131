"""Running an operation across a fleet: preflight, bounded fire, one multiplexed poller."""
