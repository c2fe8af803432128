"""Fakes of the provider APIs: one real HTTP server on loopback speaking each provider's wire
format (paths, auth headers, success bodies, error bodies and status codes), so adapter tests
exercise the real sync transport (`upstream/transports/sync.py`: SSRF guard, timeouts, body
cap) and never patch code.

One module per provider, each citing the documentation it copies: `openai`, `anthropic`,
`gemini`, `cohere`, `azure_openai`, `ollama`, `stability`, `elevenlabs`. What they share (the
request, the reply, the scenarios, the `FakeProvider` base) is in `base`; the HTTP server that
routes to them, records requests and serves the outbound test routes is in `server`.
`FakeProviderServer` is the package's entry point (the fixtures in tests/fakes/fixtures.py
start it).

Every provider lives under its own path prefix (their own paths collide: OpenAI, Anthropic and
Cohere all serve /v1/models):

    /openai/v1/models              OpenAI and every OpenAI-compatible server (Bearer)
    /anthropic/v1/models[/<id>]    Anthropic (x-api-key + anthropic-version)
    /gemini/v1beta/models[/<id>]   Gemini (x-goog-api-key, or ?key=)
    /cohere/v1/models[/<name>]     Cohere (Bearer)
    /azure/openai/models           Azure OpenAI (api-key, ?api-version=)
    /azure/openai/deployments/<d>/chat/completions | /embeddings
    /ollama/api/tags               Ollama (no key; Bearer when behind an auth proxy)
    /stability/v1/user/account     Stability AI (Bearer)
    /elevenlabs/v1/user            ElevenLabs (xi-api-key)

`server.base_url(provider_key)` is the base URL a credential uses. Scenarios are chosen by the
key's content (a key containing "ratelimited" is rate limited), or, for every provider and for
Ollama, which has no key, by an `/s/<scenario>` segment right after the prefix:
`server.base_url("ollama", "ratelimited")` == "http://127.0.0.1:PORT/ollama/s/ratelimited".

Scenarios (base.SCENARIOS): invalid → the provider's 401 (Gemini: its 400 API_KEY_INVALID);
forbidden → 403 (ElevenLabs: its 401 missing_permissions); ratelimited → 429 with a 7 s
retry delay (a Retry-After: 7 header; Gemini says it in google.rpc.RetryInfo, as Gemini does);
quota → the provider's quota or credit error; notfound → 404; error500 → 500 with the provider's
body; malformed → 200 with an HTML page; hang → sleeps `hang_seconds` then answers; slow →
sleeps 0.2 s then answers; reset → closes the connection without answering (TCP RST); echo →
a 401 whose message repeats the key (a secret-scrubbing check); lastrequest → OpenAI succeeds
but reports no requests left (x-ratelimit-remaining-requests: 0); badusage → the normal answer
(whole or streamed) with every token count of its usage block, in the provider's own field
names, replaced by the string "x"; deepjson → 200 with a JSON array nested 100,000 deep.
Provider-specific ones:
anthropic overloaded (529) and spendlimit (429 enforced_spend_limit_reached), cohere cancelled
(499) and trialmonth (429 monthly trial limit). Any other key (e.g. "sk-test-valid-1") succeeds;
a missing key gets the provider's "no key" error.

`server.requests` records every request as RecordedRequest(method, path, headers, body), the
path with its query string, the header names lower-cased; `server.reset()` clears it and
restores the tunables (hang_seconds, page_size_cap, deployments).

Routes for outbound tests live under /_test/ (redirects, big, trickling and gzip bodies, an
HTML 502): see `server.FakeProviderServer._test_route`.
"""

from tests.fakes.providers.server import FakeProviderServer

__all__ = ["FakeProviderServer"]
