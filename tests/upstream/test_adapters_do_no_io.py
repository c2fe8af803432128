"""No adapter module imports anything that opens a connection: not the socket layer, not an
HTTP client, not a transport (docs/architecture.md, "Adapters and transports"). Read from the
source (AST), so an import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import upstream.adapters

ADAPTERS = Path(upstream.adapters.__file__).parent
PACKAGE = "upstream.adapters"
# A module is refused when its name is one of these or lies under one.
FORBIDDEN = (
    "socket",
    "ssl",
    "selectors",
    "asyncio",
    "urllib3",
    "urllib.request",
    "requests",
    "http.client",
    "httpx",
    "aiohttp",
    "upstream.outbound",
    "upstream.transports",
    "upstream.calling",
)
MODULES = sorted(ADAPTERS.glob("*.py"))


def imported_modules(path: Path) -> list[str]:
    """Every module the file imports, relative imports resolved, `from x import y` counted
    as both x and x.y (y may be a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = PACKAGE.split(".")
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", ""))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.append(str(node.args[0].value))
    return names


def refused(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)


def test_every_adapter_module_is_checked():
    assert {path.stem for path in MODULES} >= {
        "__init__",
        "base",
        "openai",
        "azure_openai",
        "anthropic",
        "gemini",
        "cohere",
        "ollama",
        "elevenlabs",
        "stability",
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_no_adapter_module_imports_io(path):
    offending = [name for name in imported_modules(path) if refused(name)]
    assert offending == [], f"{path.name} imports {offending}"


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("import socket", "socket"),
        ("import urllib3.util", "urllib3.util"),
        ("from http.client import HTTPConnection", "http.client"),
        ("from .. import outbound", "upstream.outbound"),
        ("from ..transports.sync import SyncTransport", "upstream.transports.sync"),
        ("from ..transports import sync", "upstream.transports"),
        ("from upstream import calling", "upstream.calling"),
        ("def f():\n    import requests", "requests"),
        ("import asyncio.streams", "asyncio.streams"),
        ("importlib.import_module('httpx')", "httpx"),
    ],
)
def test_the_check_catches_each_way_of_importing(tmp_path, source, caught):
    module = tmp_path / "sneaky.py"
    module.write_text(source + "\n")
    assert caught in [name for name in imported_modules(module) if refused(name)]


def test_the_check_lets_the_pure_modules_through(tmp_path):
    module = tmp_path / "fine.py"
    module.write_text(
        "import json\nfrom urllib.parse import quote\nfrom ..http import Request\n"
        "from ..streams import SSEDecoder\nfrom .base import ProviderAdapter\n"
    )
    assert [name for name in imported_modules(module) if refused(name)] == []
