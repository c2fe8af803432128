"""A second process for cross-process cache tests: a plain Django process on the test's
database file and Redis that answers probes read from stdin, one JSON line each, with one JSON
line on stdout.

    {"probe": "key", "secret": "mck_…"}                       -> true while the key works
    {"probe": "model", "workspace": 1, "model": "openai/x"}   -> "ok" or the refusal's class
    {"probe": "route", "workspace": 1, "provider": "openai", "name": "x", "type": "llm"}
                                                               -> the route's pool key or null
    {"until": {...probe...}, "expect": value, "timeout": 3}    -> reads the probe until it
        answers `expect` (or the timeout): {"value", "seen", "ms", "reads"}

It reads through the app's own caches, exactly as a web process serving the gateway does.
"""

from __future__ import annotations

import json
import sys
import time

import django


def main() -> None:
    django.setup()
    from api_keys.services import api_key_authenticate
    from balancing.services import ModelRef
    from invocation import api
    from invocation import failover as invocation
    from workspaces.models import Workspace

    def probe(command: dict):
        if command["probe"] == "key":
            return api_key_authenticate(command["secret"]) is not None
        workspace = Workspace.objects.get(pk=command["workspace"])
        if command["probe"] == "model":
            try:
                api.resolve(workspace, command["model"], "llm")
            except Exception as exc:  # the refusal is the answer
                return type(exc).__name__
            return "ok"
        ref = ModelRef(command["provider"], command["name"], command["type"])
        return invocation.route_for(workspace=workspace, ref=ref).pool_key

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if "until" in command:
            started, reads = time.perf_counter(), 0
            deadline = started + command["timeout"]
            while True:
                value, reads = probe(command["until"]), reads + 1
                if value == command["expect"] or time.perf_counter() > deadline:
                    break
                time.sleep(0.002)
            answer = {
                "value": value,
                "seen": value == command["expect"],
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "reads": reads,
            }
        else:
            answer = probe(command)
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
