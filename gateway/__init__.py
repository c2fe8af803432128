"""The OpenAI-compatible HTTP surface under /v1/: authentication by API key, OpenAI's request
and error shapes, streaming, and the lean WSGI path that serves it."""
