"""localdemo package."""
