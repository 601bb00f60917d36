"""Temporal workflows: deterministic orchestration only; every read and write happens in activities."""
