"""Test doubles that speak real wire formats over real sockets (see `providers/`, one module
per provider)."""
