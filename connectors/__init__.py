"""Plain clients for the platforms Groundswell reads and writes. Imports nothing of ours."""
