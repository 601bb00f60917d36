"""Stockwarden: finds slow-moving, idle and expiring stock at medical-device companies and governs it."""
