"""SQL-first steps over the warehouse: normalise, identity, engagement, segments, sync plans.
No network I/O here."""
