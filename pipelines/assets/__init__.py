"""Assets by group: sources, identity, engagement, outbound."""
