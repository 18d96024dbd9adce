"""Redis adapters: the order cache."""
