"""Calling a workspace's models from Python: model resolution, the pool call with failover,
metering against plan quotas, and usage records (with the usage page that reads them). The
gateway and the playground both call through `invocation.api`."""
