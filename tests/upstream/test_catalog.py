"""The provider catalog: the providers of DESIGN.md section 3, strict parsing, `check`."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from upstream.registry import catalog, get_provider, load_catalog
from upstream.schema import CatalogError, parse_provider

CATALOG_DIR = Path(__file__).resolve().parents[2] / "upstream" / "catalog"

STABLE_KEYS = [
    "openai",
    "anthropic",
    "gemini",
    "cohere",
    "azure_openai",
    "ollama",
    "stability",
    "elevenlabs",
    "openai_compatible",
]

PUBLIC_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "cohere": "https://api.cohere.com",
}


def openai_entry() -> dict:
    return yaml.safe_load((CATALOG_DIR / "openai.yaml").read_text())


def test_catalog_lists_every_provider_of_the_design_with_its_stable_key():
    assert [provider.key for provider in catalog()] == STABLE_KEYS


@pytest.mark.parametrize(
    ("key", "model_types"),
    [
        ("openai", {"llm", "text-embedding", "image", "speech2text", "tts", "moderation"}),
        ("anthropic", {"llm"}),
        ("gemini", {"llm", "text-embedding"}),
        ("cohere", {"llm", "text-embedding", "rerank"}),
        ("azure_openai", {"llm", "text-embedding"}),
        ("ollama", {"llm", "text-embedding"}),
        ("stability", {"image"}),
        ("elevenlabs", {"tts"}),
        ("openai_compatible", {"llm", "text-embedding"}),
    ],
)
def test_each_provider_supports_the_model_types_of_the_design(key, model_types):
    assert set(get_provider(key).model_types) == model_types


@pytest.mark.parametrize(
    ("key", "names"),
    [
        (
            "openai",
            [
                "gpt-4",
                "gpt-3.5-turbo",
                "gpt-4o",
                "gpt-4o-mini",
                "text-embedding-3-small",
                "dall-e-3",
                "whisper-1",
                "tts-1",
                "omni-moderation-latest",
            ],
        ),
        (
            "anthropic",
            [
                "claude-3-opus-20240229",
                "claude-3-sonnet-20240229",
                "claude-3-haiku-20240307",
                "claude-2.1",
                "claude-instant-1.2",
            ],
        ),
        ("cohere", ["rerank-v3.5"]),
        ("gemini", ["gemini-2.5-pro"]),
    ],
)
def test_predefined_models_include_the_ones_the_docs_name(key, names):
    provider_models = {model.name for model in get_provider(key).models}
    assert set(names) <= provider_models


def test_every_secret_is_called_api_key_and_every_endpoint_base_url():
    for provider in catalog():
        schemas = [provider.credential_schema]
        if provider.custom_model_schema:
            schemas.append(provider.custom_model_schema)
        for schema in schemas:
            assert schema.secret_variables == ("api_key",), provider.key
            urls = [f.variable for f in schema.fields if f.type == "url"]
            assert urls == ["base_url"], provider.key


def test_hosted_providers_default_base_url_to_the_public_endpoint_and_others_require_it():
    for key, url in PUBLIC_BASE_URLS.items():
        field = get_provider(key).credential_schema.get("base_url")
        assert (field.required, field.default) == (False, url)
    for key in ["ollama", "azure_openai", "openai_compatible"]:
        assert get_provider(key).credential_schema.get("base_url").required is True


def test_azure_custom_models_ask_for_deployment_and_base_model():
    schema = get_provider("azure_openai").custom_model_schema
    assert schema.get("deployment").required
    assert schema.get("base_model").type == "select"


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (lambda d: d.pop("label"), "", "missing required key 'label'"),
        (lambda d: d.update(colour="red"), "", "unknown key 'colour'"),
        (lambda d: d["model_types"].append("video"), "model_types[6]", "'video' is not one of"),
        (
            lambda d: d["credential_schema"][0].update(type="password"),
            "credential_schema[0].type",
            "'password' is not one of secret",
        ),
        (
            lambda d: d["credential_schema"][1].update(default="api.openai.com"),
            "credential_schema[1].default",
            "must be an http(s) URL",
        ),
        (
            lambda d: d["credential_schema"][0].update(default="sk-x"),
            "credential_schema[0].default",
            "a secret field cannot have a default",
        ),
        (
            lambda d: d["credential_schema"].append(dict(d["credential_schema"][0])),
            "credential_schema[3].variable",
            "duplicate variable 'api_key'",
        ),
        (
            lambda d: d["credential_schema"][2].update(
                show_on=[{"variable": "nope", "value": "x"}]
            ),
            "credential_schema[2].show_on[0].variable",
            "refers to unknown field 'nope'",
        ),
        (
            lambda d: d["credential_schema"][2].update(type="select"),
            "credential_schema[2].options",
            "a select field needs options",
        ),
        (
            lambda d: d["models"][0].update(type="rerank"),
            "models[0].type",
            "not among the provider's model_types",
        ),
        (
            lambda d: d["models"][0].update(context_size="big"),
            "models[0].context_size",
            "must be an integer",
        ),
        (
            lambda d: d["models"][0].update(features=["telepathy"]),
            "models[0].features[0]",
            "'telepathy' is not one of",
        ),
        (
            lambda d: d["models"].append(dict(d["models"][0])),
            "models[25].name",
            "duplicate model 'gpt-4.1'",
        ),
        (lambda d: d.update(required=True), "", "unknown key 'required'"),
        (  # kept secrets go only to an unchanged address: an address must be a url field
            lambda d: d["credential_schema"][1].update(type="text"),
            "credential_schema[1].type",
            "'base_url' names an address: its type must be url",
        ),
        (
            lambda d: d["credential_schema"][0].update(required="yes"),
            "credential_schema[0].required",
            "must be true or false",
        ),
    ],
)
def test_malformed_entries_are_rejected_naming_file_and_field(mutate, path, message):
    data = copy.deepcopy(openai_entry())
    mutate(data)
    with pytest.raises(CatalogError) as raised:
        parse_provider(data, source="upstream/catalog/openai.yaml")
    assert raised.value.source == "upstream/catalog/openai.yaml"
    assert raised.value.path == path
    assert message in raised.value.message


@pytest.fixture
def catalog_copy(tmp_path, settings):
    directory = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, directory)
    settings.PROVIDER_CATALOG_DIR = directory
    return directory


def test_manage_py_check_passes_on_the_shipped_catalog(capsys):
    call_command("check")
    assert "no issues" in capsys.readouterr().out


def test_manage_py_check_fails_on_a_malformed_catalog_file(catalog_copy):
    broken = yaml.safe_load((catalog_copy / "cohere.yaml").read_text())
    broken["models"][0]["type"] = "hologram"
    (catalog_copy / "cohere.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    assert "cohere.yaml: models[0].type: 'hologram' is not one of" in str(raised.value)


def test_a_file_whose_key_differs_from_its_name_is_rejected(catalog_copy):
    (catalog_copy / "mistral.yaml").write_text((catalog_copy / "openai.yaml").read_text())
    with pytest.raises(CatalogError, match="'openai' must match the file name 'mistral'"):
        load_catalog()


def test_invalid_yaml_is_reported_with_its_file(catalog_copy):
    (catalog_copy / "ollama.yaml").write_text("key: [unclosed\n")
    with pytest.raises(CatalogError, match="ollama.yaml: is not valid YAML"):
        load_catalog()
