"""Workspaces, their members and roles, and the current-workspace machinery every view uses."""
