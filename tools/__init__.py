"""Developer tools kept out of the orderflow package (the bench)."""
