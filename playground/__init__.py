"""The playground page: try a workspace's models in the browser, through `invocation.api`."""
