"""Temporal activities: thin, each calling one domain function, all the I/O the workflows need."""
