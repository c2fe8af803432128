"""Declarative provisioning: a YAML file states a workspace's provider configuration (provider
preferences, credentials with secrets from environment variables, custom models, default
credentials and load-balancing pools). `parser` reads the file, `planner` plans it against the
workspace and applies it all or nothing through the services, and `exporter` writes a workspace
back into the same format; the commands `apply_providers` and `export_providers` drive them."""
