"""Workspace API keys: created, listed and revoked on their settings page, authenticated by the
gateway, and ended with their creator's membership."""
