"""Settings → Model Providers as members and admins see it, as full pages and HTMX fragments."""

from __future__ import annotations

import pytest
from django.urls import reverse

HX = {"HX-Request": "true"}


def test_provider_list_shows_every_provider_with_types_and_status(client_for):
    response = client_for("member").get(reverse("provider-list"))
    assert response.status_code == 200
    html = response.content.decode()
    for label in [
        "OpenAI",
        "Anthropic",
        "Google Gemini",
        "Cohere",
        "Azure OpenAI",
        "Ollama",
        "Stability AI",
        "ElevenLabs",
        "OpenAI-compatible API",
    ]:
        assert label in html
    assert html.count("Not configured") == 9
    assert "Text embedding" in html and "Rerank" in html
    assert 'id="provider-grid"' in html and "<html" in html


def test_filtering_by_model_type_returns_only_the_grid_fragment(client_for):
    response = client_for("member").get(
        reverse("provider-list"), {"type": "rerank"}, headers={**HX, "HX-Target": "provider-grid"}
    )
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="provider-grid"')
    assert "Cohere" in html
    assert "Anthropic" not in html and "OpenAI" not in html


def test_search_matches_model_names(client_for):
    html = client_for("member").get(reverse("provider-list"), {"q": "claude"}).content.decode()
    assert "Anthropic" in html
    assert "Cohere" not in html


def test_a_search_without_results_says_so_and_offers_all_providers(client_for):
    html = client_for("member").get(reverse("provider-list"), {"q": "zzz-nothing"}).content.decode()
    assert "No provider matches" in html
    assert "Show all providers" in html


def test_unknown_filter_values_are_ignored_not_errors(client_for):
    response = client_for("member").get(reverse("provider-list"), {"type": "<script>"})
    assert response.status_code == 200
    assert response.content.decode().count("Not configured") == 9


def test_an_overlong_search_is_cut_not_an_error(client_for):
    response = client_for("member").get(reverse("provider-list"), {"q": "x" * 5000})
    assert response.status_code == 200
    assert "x" * 101 not in response.content.decode()


def test_search_text_is_escaped(client_for):
    html = client_for("member").get(reverse("provider-list"), {"q": "<b>bold</b>"}).content.decode()
    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_provider_page_lists_predefined_models_by_type(client_for):
    response = client_for("editor").get(reverse("provider-detail", args=["openai"]))
    html = response.content.decode()
    assert response.status_code == 200
    for heading in [
        "LLM",
        "Text embedding",
        "Image",
        "Speech to text",
        "Text to speech",
        "Moderation",
    ]:
        assert f">{heading} <span" in html
    assert "openai/gpt-4o-mini" in html and "openai/whisper-1" in html
    assert "128K" in html  # context size, as people say it
    assert "Deprecated" in html
    assert "No credentials yet" in html


def test_model_type_tab_returns_only_the_model_list_fragment(client_for):
    response = client_for("member").get(
        reverse("provider-detail", args=["openai"]),
        {"type": "tts"},
        headers={**HX, "HX-Target": "model-list"},
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="model-list"')
    assert "openai/tts-1" in html
    assert "openai/gpt-4o<" not in html


def test_provider_without_predefined_models_explains_custom_models(client_for):
    html = client_for("member").get(reverse("provider-detail", args=["ollama"])).content.decode()
    assert "has no predefined llm models" in html
    assert "custom models" in html


def test_credential_fields_come_from_the_schema(client_for):
    html = (
        client_for("admin").get(reverse("provider-detail", args=["azure_openai"])).content.decode()
    )
    assert "API Endpoint URL" in html and "Deployment Name" in html
    assert "secret · encrypted" in html


def test_unknown_provider_is_404(client_for):
    assert client_for("admin").get(reverse("provider-detail", args=["nope"])).status_code == 404


@pytest.mark.parametrize("role", ["editor", "member"])
def test_editors_and_members_see_the_providers_read_only(client_for, role):
    html = client_for(role).get(reverse("provider-list")).content.decode()
    assert "Only the owner and admins can change them" in html
    assert ">Config<" not in html and "View" in html


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_get_the_config_buttons(client_for, role):
    html = client_for(role).get(reverse("provider-list")).content.decode()
    assert "Only the owner and admins can change them" not in html
    assert "Config</a>" in html


def test_pages_work_for_reading_without_javascript(client_for):
    """Filters are plain GET forms and links carry href, so a browser without JS can read."""
    html = client_for("member").get(reverse("provider-list")).content.decode()
    assert 'method="get" action="/settings/model-providers/"' in html
    assert 'href="/settings/model-providers/openai/"' in html
    detail = client_for("member").get(reverse("provider-detail", args=["cohere"])).content.decode()
    assert 'href="?type=rerank"' in detail


def test_the_page_loads_nothing_from_outside(client_for):
    html = client_for("member").get(reverse("provider-list")).content.decode()
    for tag in ['src="http', 'href="http', "src='http", "//cdn"]:
        assert tag not in html.replace('href="https://platform', "")
    assert "/static/vendor/tabler-core-1.6.1/dist/css/tabler.min.css" in html
    assert 'src="/static/django_htmx/htmx-2.min.js"' in html


def test_the_status_and_model_fragments_refresh_after_credential_changes(client_for, workspace):
    from tests.factories import CredentialFactory

    client = client_for("member")
    url = reverse("provider-detail", args=["openai"])
    page = client.get(url).content.decode()
    assert page.count("credentialsChanged from:body") == 4  # list, status, models, custom
    CredentialFactory(workspace=workspace, is_default=True)
    status = client.get(url, headers={**HX, "HX-Target": "provider-status"}).content.decode()
    assert status.lstrip().startswith('<div id="provider-status"') and "Active" in status
    models = client.get(url, headers={**HX, "HX-Target": "model-list"}).content.decode()
    assert "No credential" not in models and "Active" in models
