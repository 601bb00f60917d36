"""The append-only, hash-chained audit trail that every governance step writes to."""
