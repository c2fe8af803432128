"""Workspace credentials for providers and custom models (encrypted, validated before saving),
and the custom models they belong to. Apps above follow them through `credentials.signals`."""
