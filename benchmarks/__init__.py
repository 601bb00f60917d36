"""Scripts that print figures: throughput, latency, memory. Run them from the repository root."""
