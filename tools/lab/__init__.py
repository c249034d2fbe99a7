"""Network-namespace labs for the data path (root only)."""
