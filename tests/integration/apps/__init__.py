"""Small apps the integration tests serve with each server (see test_integrations.py)."""
