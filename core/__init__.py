"""The bottom room: settings, the secret, the database engine, the Temporal client and its payload codec,
cells that are never formulas, the month a report covers, the case's vocabulary. Every other room may
import it; it imports no other room (only `migrations/`, to find the schema's revisions)."""
