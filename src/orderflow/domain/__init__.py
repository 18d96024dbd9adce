"""The pure model and services. Standard library only: no adapter, driver or framework."""
