"""Workspaces, their members and roles, the audit log, and the machinery every app stands on:
access to the current workspace, actors, background jobs, the configuration cache and Redis
connections."""
