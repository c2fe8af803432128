"""The schema form builder and the same validation on non-form write paths."""

from __future__ import annotations

import pytest
from django import forms

from upstream.forms import CredentialValuesInvalid, build_schema_form, clean_credential_values
from upstream.registry import get_provider
from upstream.schema import parse_provider

SCHEMA_ENTRY = {
    "key": "example",
    "label": "Example",
    "model_types": ["llm"],
    "adapter": "openai",
    "validation": "list_models",
    "credential_schema": [
        {
            "variable": "api_key",
            "label": "API Key",
            "type": "secret",
            "required": True,
            "placeholder": "sk-...",
        },
        {
            "variable": "base_url",
            "label": "Base URL",
            "type": "url",
            "default": "https://api.example.com/v1",
        },
        {
            "variable": "region",
            "label": "Region",
            "type": "select",
            "required": True,
            "default": "eu",
            "options": [
                {"value": "eu", "label": "Europe"},
                {"value": "us", "label": "United States"},
            ],
        },
        {"variable": "streaming", "label": "Streaming", "type": "switch", "default": True},
        {"variable": "context_size", "label": "Context size", "type": "number", "default": 4096},
        {
            "variable": "organization",
            "label": "Organization",
            "type": "text",
            "max_length": 20,
            "help": "Only for multi-org keys.",
        },
        {
            "variable": "eu_tenant",
            "label": "EU tenant",
            "type": "text",
            "required": True,
            "show_on": [{"variable": "region", "value": "eu"}],
        },
    ],
}


@pytest.fixture
def schema():
    return parse_provider(SCHEMA_ENTRY, source="test").credential_schema


@pytest.fixture
def form_class(schema):
    return build_schema_form(schema)


def valid_data(**overrides):
    data = {
        "api_key": "sk-test-123",
        "base_url": "https://api.example.com/v1",
        "region": "eu",
        "streaming": "on",
        "context_size": "8192",
        "eu_tenant": "tenant-1",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_each_schema_type_becomes_the_matching_form_field(form_class):
    form = form_class()
    assert isinstance(form.fields["api_key"].widget, forms.PasswordInput)
    assert isinstance(form.fields["region"], forms.ChoiceField)
    assert isinstance(form.fields["streaming"], forms.BooleanField)
    assert isinstance(form.fields["context_size"], forms.IntegerField)
    assert list(form.fields) == [f["variable"] for f in SCHEMA_ENTRY["credential_schema"]]


def test_labels_defaults_help_and_placeholders_come_from_the_schema(form_class):
    form = form_class()
    assert form.fields["api_key"].label == "API Key"
    assert form.fields["api_key"].widget.attrs["placeholder"] == "sk-..."
    assert form.fields["base_url"].initial == "https://api.example.com/v1"
    assert form.fields["region"].initial == "eu"
    assert form.fields["organization"].help_text == "Only for multi-org keys."
    html = form.as_div()
    assert '<label for="id_api_key"' in html


def test_a_secret_is_never_rendered_back_into_the_form(form_class):
    form = form_class(data=valid_data(api_key="sk-very-secret-value"))
    form.is_valid()
    assert "sk-very-secret-value" not in form.as_div()


def test_valid_input_gives_the_values_to_store(form_class):
    form = form_class(data=valid_data())
    assert form.is_valid(), form.errors
    assert form.credential_values() == {
        "api_key": "sk-test-123",
        "base_url": "https://api.example.com/v1",
        "region": "eu",
        "streaming": True,
        "context_size": 8192,
        "eu_tenant": "tenant-1",
    }


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"api_key": None}, "api_key", "This field is required."),
        ({"region": "mars"}, "region", "Select a valid choice."),
        ({"base_url": "api.example.com/v1"}, "base_url", "starts with http:// or https://"),
        ({"base_url": "ftp://files.example.com"}, "base_url", "starts with http:// or https://"),
        ({"context_size": "lots"}, "context_size", "Enter a whole number."),
        ({"organization": "x" * 10_000}, "organization", "at most 20 characters"),
        ({"organization": "org\nname"}, "organization", "control characters"),
        ({"api_key": "sk-\x00abc"}, "api_key", "Null characters are not allowed."),
    ],
)
def test_bad_input_gets_a_clear_message_on_its_field(form_class, overrides, field, message):
    form = form_class(data=valid_data(**overrides))
    assert not form.is_valid()
    assert any(message in error for error in form.errors[field])


def test_a_field_shown_on_a_condition_is_required_only_while_shown(form_class):
    shown = form_class(data=valid_data(eu_tenant=None))
    assert not shown.is_valid()
    assert shown.errors["eu_tenant"] == ["This field is required."]

    hidden = form_class(data=valid_data(region="us", eu_tenant="stale value"))
    assert hidden.is_valid(), hidden.errors
    assert "eu_tenant" not in hidden.credential_values()


def test_show_on_is_rendered_for_the_browser(form_class):
    assert 'data-show-on="[[&quot;region&quot;, &quot;eu&quot;]]"' in str(form_class()["eu_tenant"])


def test_empty_optional_values_are_left_out(form_class):
    form = form_class(data=valid_data(base_url="", streaming=None, context_size=""))
    assert form.is_valid(), form.errors
    values = form.credential_values()
    assert "base_url" not in values
    assert "context_size" not in values
    assert values["streaming"] is False


def test_non_form_write_paths_get_the_same_validation(schema):
    values = clean_credential_values(
        schema, {"api_key": "sk-1", "region": "us", "streaming": False, "context_size": 100}
    )
    assert values == {"api_key": "sk-1", "region": "us", "streaming": False, "context_size": 100}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"region": "us"}, "api_key"),
        ({"api_key": "sk-1", "region": "us", "unknown": "x"}, "unknown"),
        ({"api_key": "sk-1", "region": "us", "streaming": "yes"}, "streaming"),
        ({"api_key": "sk-1", "region": "us", "base_url": "localhost:11434"}, "base_url"),
        ({"api_key": ["sk-1"], "region": "us"}, "api_key"),
        ({"api_key": "sk-1", "region": "eu"}, "eu_tenant"),
    ],
)
def test_non_form_write_paths_reject_what_the_form_rejects(schema, values, field):
    with pytest.raises(CredentialValuesInvalid) as raised:
        clean_credential_values(schema, values)
    assert raised.value.field == field


def test_every_catalog_schema_builds_a_form_with_a_label_per_field():
    from upstream.registry import catalog

    for provider in catalog():
        for schema in filter(None, [provider.credential_schema, provider.custom_model_schema]):
            html = build_schema_form(schema)().as_div()
            for field in schema.fields:
                assert f'<label for="id_{field.variable}"' in html, (provider.key, field.variable)


def test_azure_custom_model_form_accepts_a_complete_deployment():
    provider = get_provider("azure_openai")
    form = build_schema_form(provider.custom_model_schema)(
        data={
            "base_url": "https://acme.openai.azure.com",
            "api_key": "k",
            "api_version": "2024-10-21",
            "deployment": "gpt4o-prod",
            "base_model": "gpt-4o",
        }
    )
    assert form.is_valid(), form.errors
