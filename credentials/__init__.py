"""Workspace credentials for providers and custom models (encrypted, validated before saving)."""
