"""The bottom room: settings, the secret, the database engine, the Temporal client and its payload codec,
cells that are never formulas, the month a report covers. Every other room may import it; it imports none."""
