"""Governance cases outside Temporal: the case mirror that lists and reports read, and its service."""
