"""The DuckDB warehouse: connection, versioned schema migrations, load helpers."""
