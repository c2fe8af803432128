"""The operator's side: system providers and their credentials, plan quotas, each workspace's
choice between its own credentials and the system's, and the revalidation of every stored
credential."""
