"""The curl examples of docs/gateway.md's media section, run as written against the production
server process, each served by the fake providers."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.media import media_keys, wav

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"


def docs_curl_block() -> str:
    blocks = re.findall(r"```sh\n(.*?)```", DOCS.read_text(), flags=re.S)
    block = next(b for b in blocks if "curl $BASE/images/generations" in b)
    lines = block.splitlines()
    assert lines[0].startswith("export BASE=")
    return "\n".join(lines[1:])


@pytest.mark.django_db(transaction=True)
def test_the_media_curl_examples_work(
    server, redis_url, api_key, workspace, fake_providers, tmp_path
):
    media_keys(workspace, fake_providers)
    (tmp_path / "meeting.wav").write_bytes(wav(2))
    env = {**os.environ, "BASE": f"{server.url}/v1", "KEY": api_key.secret}
    script = (
        docs_curl_block()
        .replace("curl ", "curl -sS --fail-with-body ")
        .replace("--output speech.mp3", "--output speech.mp3 && echo")
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    decoder, answers, text = json.JSONDecoder(), [], result.stdout.strip()
    while text:
        answer, end = decoder.raw_decode(text)
        answers.append(answer)
        text = text[end:].strip()
    image, transcription, ranked = answers
    assert image["data"][0]["b64_json"]
    assert (tmp_path / "speech.mp3").read_bytes().endswith(b"nova:Hello from the gateway.")
    assert transcription["task"] == "transcribe" and transcription["duration"] == 2.0
    assert ranked["results"][0]["index"] == 1 and len(ranked["results"]) == 2
