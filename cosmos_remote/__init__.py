"""cosmos_remote."""
