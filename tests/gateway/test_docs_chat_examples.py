"""The curl examples of docs/gateway.md's first section (API keys and the API), run as written
against the production server process."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"


def docs_curl_block() -> str:
    blocks = re.findall(r"```sh\n(.*?)```", DOCS.read_text(), flags=re.S)
    block = next(b for b in blocks if "curl $BASE/chat/completions" in b)
    # Its first line sets BASE and KEY.
    lines = [line.strip() for line in block.splitlines()]
    assert lines[0].startswith("export BASE=")
    return "\n".join(lines[1:])


@pytest.mark.django_db(transaction=True)
def test_the_gateway_curl_examples_work(server, redis_url, api_key, openai_key, pro_plan):
    env = {**os.environ, "BASE": f"{server.url}/v1", "KEY": api_key.secret}
    result = subprocess.run(
        [
            "bash",
            "-euo",
            "pipefail",
            "-c",
            docs_curl_block().replace("curl ", "curl -sS --fail-with-body "),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert '"id": "openai/gpt-4o-mini"' in out  # models
    assert '"content": "You said: Hello"' in out  # chat
    assert '"object":"chat.completion.chunk"' in out and "data: [DONE]" in out  # stream
    assert out.count('"object": "embedding"') == 2
    assert '"flagged": false' in out
