"""What the governance committee reads: the monthly KPIs, stored per month for trends, and (next) the pack."""
