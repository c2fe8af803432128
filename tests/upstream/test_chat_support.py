"""The gateway docs' feature-by-provider table (docs/gateway.md) is the adapters' own answer:
regenerated here from each adapter's `check_chat` and compared, so it cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from upstream.calls import _CHAT_DEFAULTS
from upstream.chat_support import PROVIDERS, ROWS, chat_support, markdown_table
from upstream.registry import catalog

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"


def documented_table() -> str:
    text = DOC.read_text()
    match = re.search(r"<!-- chat-support:start -->\n(.*?)<!-- chat-support:end -->", text, re.S)
    assert match, "docs/gateway.md lost its chat-support markers"
    return match.group(1)


def test_the_docs_table_is_what_the_adapters_say_now():
    assert documented_table() == markdown_table(), (
        "docs/gateway.md is out of date: paste upstream.chat_support.markdown_table() "
        "between its chat-support markers"
    )


def test_every_chat_provider_has_a_column():
    chat_providers = {p.key for p in catalog() if "llm" in p.model_types}
    assert set(PROVIDERS) == chat_providers


def test_every_option_of_a_chat_request_has_a_row():
    """A new ChatRequest option with no row would be missing from the docs."""
    probed = {name for _, request in ROWS for name in request.options()}
    assert set(_CHAT_DEFAULTS) <= probed


def test_the_rows_tell_the_openai_family_from_the_others():
    support = chat_support()
    columns = [key for key, _ in support.providers]
    rows = dict(support.rows)
    unknown = rows["a field the gateway does not know"]
    for key, cell in zip(columns, unknown, strict=True):
        assert cell.supported == (key in ("openai", "openai_compatible", "azure_openai"))
    anthropic_seed = rows["`seed`"][columns.index("anthropic")]
    assert not anthropic_seed.supported and "no seed" in anthropic_seed.reason
