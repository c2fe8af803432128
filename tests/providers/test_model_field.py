"""The model field: the workspace's models grouped by provider with their status, filtered by
type, searchable, accessible; unusable and unknown models refused."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django import forms
from django.urls import reverse

from providers.fields import ModelField, WorkspaceForm
from providers.selectors import provider_models
from tests.factories import (
    CredentialFactory,
    CustomModelFactory,
    ModelSettingFactory,
    PoolEntryFactory,
    PoolFactory,
)
from upstream.registry import get_provider

VOID = {"input", "br", "img", "meta", "link", "hr"}


class PickerPage(HTMLParser):
    """A rendered picker as assistive technology reads it: its radios (attributes and the
    provider group each belongs to) and the text of any element by id (aria-hidden text left
    out)."""

    def __init__(self, html: str):
        super().__init__()
        self.radios: list[dict] = []
        self.elements: dict[str, dict] = {}  # id → attributes
        self.group_ids: list[str] = []  # the header id naming each provider group, in order
        self._texts: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None, bool, str | None]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v if v is not None else "") for k, v in attrs}
        if "id" in attrs:
            self.elements[attrs["id"]] = {"tag": tag, **attrs}
            self._texts.setdefault(attrs["id"], [])
        group = attrs.get("aria-labelledby") if attrs.get("role") == "group" else None
        if group:
            self.group_ids.append(group)
        if tag == "input" and attrs.get("type") == "radio":
            self.radios.append({**attrs, "group_id": self._group()})
        if tag not in VOID:
            hidden = attrs.get("aria-hidden") == "true" or self._hidden()
            self._open.append((tag, attrs.get("id"), hidden, group))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self._open:
            self._open.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        if self._hidden():
            return
        for _, element_id, _, _ in self._open:
            if element_id:
                self._texts[element_id].append(data)

    def _hidden(self) -> bool:
        return bool(self._open) and self._open[-1][2]

    def _group(self) -> str | None:
        return next((g for *_, g in reversed(self._open) if g), None)

    def text(self, element_id: str) -> str:
        return " ".join(" ".join(self._texts.get(element_id, [])).split())

    @property
    def groups(self) -> list[str]:
        return [self.text(group_id) for group_id in self.group_ids]

    def radio(self, value: str) -> dict:
        radio = next(r for r in self.radios if r["value"] == value)
        return {**radio, "group": self.text(radio["group_id"]) if radio["group_id"] else ""}

    @property
    def values(self) -> list[str]:
        return [r["value"] for r in self.radios]


@pytest.fixture
def openai_default(workspace):
    """An active default OpenAI credential: every predefined OpenAI model is usable."""
    return CredentialFactory(workspace=workspace, provider="openai", name="main", is_default=True)


def field_form(workspace, **field_kwargs):
    class PickForm(WorkspaceForm):
        model = ModelField(label="Model", **field_kwargs)

    def make(data=None):
        return PickForm(data, workspace=workspace)

    return make


def render(workspace, **field_kwargs) -> PickerPage:
    form = field_form(workspace, **field_kwargs)()
    return PickerPage(str(form["model"]))


def expected_status(workspace, provider_key: str, name: str):
    models = provider_models(workspace=workspace, provider=get_provider(provider_key))
    return next(r for r in [*models.predefined, *models.custom] if r.name == name).status


def test_models_are_listed_in_one_group_per_provider_with_their_status(workspace, openai_default):
    page = render(workspace, model_type="llm")

    assert page.groups[0] == "OpenAI"  # the provider with usable models comes first
    assert "Anthropic" in page.groups and len(page.groups) == len(set(page.groups))
    gpt = page.radio("openai/gpt-4o")
    assert gpt["group"] == "OpenAI" and "disabled" not in gpt
    status = page.text(gpt["aria-describedby"])
    assert expected_status(workspace, "openai", "gpt-4o").label in status

    claude = next(r for r in map(page.radio, page.values) if r["group"] == "Anthropic")
    assert "disabled" in claude
    claude_status = expected_status(workspace, "anthropic", claude["value"].split("/", 1)[1])
    assert not claude_status.usable
    described = page.text(claude["aria-describedby"])
    assert claude_status.label in described and claude_status.reason in described


def test_the_type_argument_limits_the_list_to_that_type(workspace, openai_default):
    llm = render(workspace, model_type="llm").values
    embedding = render(workspace, model_type="text-embedding").values

    assert "openai/gpt-4o" in llm and "openai/text-embedding-3-small" not in llm
    assert "openai/text-embedding-3-small" in embedding and "openai/gpt-4o" not in embedding
    assert all(not v.startswith("anthropic/") for v in embedding)  # Anthropic has no embeddings


def test_a_usable_model_is_accepted_as_its_id(workspace, openai_default):
    form = field_form(workspace, model_type="llm")({"model": "openai/gpt-4o-mini"})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["model"] == "openai/gpt-4o-mini"


def test_a_disabled_model_is_shown_disabled_and_refused_with_the_reason(workspace, openai_default):
    ModelSettingFactory(workspace=workspace, model_name="gpt-4o", enabled=False)
    page = render(workspace, model_type="llm")
    radio = page.radio("openai/gpt-4o")
    assert "disabled" in radio
    assert "Disabled" in page.text(radio["aria-describedby"])
    assert "Switched off in this workspace." in page.text(radio["aria-describedby"])

    form = field_form(workspace, model_type="llm")({"model": "openai/gpt-4o"})
    assert not form.is_valid()
    assert form.errors["model"] == [
        "openai/gpt-4o cannot be used: disabled. Switched off in this workspace."
    ]


def test_a_model_without_credential_is_refused(workspace, openai_default):
    status = expected_status(workspace, "anthropic", "claude-haiku-4-5-20251001")
    form = field_form(workspace, model_type="llm")({"model": "anthropic/claude-haiku-4-5-20251001"})

    assert not status.usable
    assert not form.is_valid()
    assert status.reason in form.errors["model"][0]
    assert "cannot be used" in form.errors["model"][0]


@pytest.mark.parametrize(
    "value", ["openai/no-such-model", "openai/text-embedding-3-small", "nonsense"]
)
def test_unknown_models_and_models_of_another_type_are_refused(workspace, openai_default, value):
    form = field_form(workspace, model_type="llm")({"model": value})

    assert not form.is_valid()
    assert form.errors["model"] == [
        f"{value} is not one of this workspace's LLM models. Choose one from the list."
    ]


def test_a_required_field_asks_for_a_model(workspace, openai_default):
    form = field_form(workspace, model_type="llm")({})

    assert not form.is_valid()
    assert form.errors["model"] == ["Choose a model."]


def test_custom_models_are_listed_and_kept_apart_from_a_predefined_model_of_the_same_name(
    workspace, openai_default
):
    CustomModelFactory(workspace=workspace, name="my-tune")
    CredentialFactory(
        workspace=workspace, model_name="my-tune", model_type="llm", is_default=True, name="t"
    )
    CustomModelFactory(workspace=workspace, name="gpt-4o")
    CredentialFactory(
        workspace=workspace, model_name="gpt-4o", model_type="llm", is_default=True, name="c"
    )
    page = render(workspace, model_type="llm")

    assert "openai/my-tune" in page.values
    assert page.values.count("openai/gpt-4o") == 1 and "openai/gpt-4o#custom" in page.values
    assert "Custom" in page.text(page.radio("openai/my-tune")["aria-labelledby"])

    make = field_form(workspace, model_type="llm")
    form = make({"model": "openai/gpt-4o#custom"})
    assert form.is_valid(), form.errors
    picked = form.fields["model"].option(form.cleaned_data["model"])
    assert picked.custom and picked.name == "gpt-4o" and picked.gateway_id == "openai/gpt-4o#custom"
    assert not make({"model": "openai/gpt-4o"}).fields["model"].option("openai/gpt-4o").custom


def test_another_workspaces_custom_models_are_never_listed_nor_accepted(
    workspace, openai_default, other_workspace
):
    other = other_workspace["workspace"]
    CustomModelFactory(workspace=other, name="their-secret")
    CredentialFactory(workspace=other, model_name="their-secret", model_type="llm", is_default=True)

    page = render(workspace, model_type="llm")
    assert not any("their-secret" in value for value in page.values)
    form = field_form(workspace, model_type="llm")({"model": "openai/their-secret"})
    assert not form.is_valid()


def test_the_field_is_labelled_and_exposes_a_keyboard_usable_radio_group(workspace, openai_default):
    form = field_form(workspace, model_type="llm")()
    html = str(form["model"].label_tag()) + str(form["model"])
    page = PickerPage(html)

    assert 'for="id_model-search"' in html  # the visible label names the search box
    search = page.elements["id_model-search"]
    assert search["type"] == "search" and search["aria-controls"] == "id_model-options"
    group = page.elements["id_model-options"]
    assert group["role"] == "radiogroup" and group["aria-label"] == "Model"
    assert group["aria-required"] == "true"
    # One radio group (one name): browsers move between its enabled radios with arrow keys.
    assert {r["name"] for r in page.radios} == {"model"}
    assert all(r.get("aria-labelledby") and r.get("aria-describedby") for r in page.radios)
    assert page.text(page.radio("openai/gpt-4o")["aria-labelledby"]).startswith("GPT-4o")
    assert 'aria-live="polite"' in html  # search results are announced


def test_the_chosen_model_is_checked(workspace, openai_default):
    form = field_form(workspace, model_type="llm")()
    form.initial["model"] = "openai/o3"
    page = PickerPage(str(form["model"]))

    assert "checked" in page.radio("openai/o3")
    assert sum("checked" in r for r in page.radios) == 1


def test_a_model_with_load_balancing_on_carries_the_icon(workspace, openai_default, settings):
    settings.LOAD_BALANCING_ALL_PLANS = True
    second = CredentialFactory(workspace=workspace, provider="openai", name="second")
    pool = PoolFactory(workspace=workspace, model_name="gpt-4o", enabled=True)
    PoolEntryFactory(pool=pool, credential=openai_default, position=0)
    PoolEntryFactory(pool=pool, credential=second, position=1)

    html = str(field_form(workspace, model_type="llm")()["model"])

    def row(value: str) -> str:
        start = html.index(f'value="{value}"')
        return html[start : html.index("</label>", start)]

    assert 'aria-label="Load balancing on"' in row("openai/gpt-4o")
    assert "Load balancing on" not in row("openai/gpt-4o-mini")


def test_a_workspace_without_models_of_the_type_gets_a_way_forward(workspace):
    html = str(field_form(workspace, model_type="rerank")()["model"])

    assert "Cohere" in html  # Cohere's rerankers are listed, unusable until configured
    empty = str(field_form(workspace, model_type="llm", options=[])()["model"])
    assert "No LLM models yet" in empty and reverse("provider-list") in empty


def test_a_field_needs_a_workspace():
    class Loose(forms.Form):
        model = ModelField(model_type="llm")

    with pytest.raises(RuntimeError, match="needs a workspace"):
        str(Loose()["model"])


# -- the search endpoint -----------------------------------------------------------------------


def search(client, q="", **params):
    query = {"field": "model", "id": "id_model", "type": "llm", "label": "Model", "model-q": q}
    query.update(params)
    return client.get(reverse("model-field-search"), query, headers={"HX-Request": "true"})


def test_search_narrows_the_list_to_matching_models(client_for, workspace, openai_default):
    response = search(client_for("member"), q="4o mini")

    assert response.status_code == 200
    page = PickerPage(response.content.decode())
    assert page.values == ["openai/gpt-4o-mini"]
    assert page.elements["id_model-options"]["role"] == "radiogroup"
    assert "1 model listed." in response.content.decode()


def test_search_matches_provider_names(client_for, workspace, openai_default):
    page = PickerPage(search(client_for("member"), q="anthropic").content.decode())

    assert page.values and all(v.startswith("anthropic/") for v in page.values)
    assert set(page.groups) == {"Anthropic"}


def test_search_keeps_the_current_choice_listed_and_checked(client_for, workspace, openai_default):
    page = PickerPage(search(client_for("member"), q="claude", model="openai/o3").content.decode())

    assert "checked" in page.radio("openai/o3")
    assert any(v.startswith("anthropic/") for v in page.values)


def test_search_without_matches_says_so(client_for, workspace, openai_default):
    response = search(client_for("member"), q="zzz-nothing")

    assert PickerPage(response.content.decode()).values == []
    assert "No LLM models match “zzz-nothing”" in response.content.decode()


def test_search_lists_only_the_current_workspaces_custom_models(
    client_for, workspace, openai_default, other_workspace
):
    other = other_workspace["workspace"]
    CustomModelFactory(workspace=other, name="their-tune")
    CustomModelFactory(workspace=workspace, name="our-tune")

    page = PickerPage(search(client_for("member"), q="tune").content.decode())

    assert page.values == ["openai/our-tune"]


def test_search_filters_by_type(client_for, workspace, openai_default):
    page = PickerPage(
        search(client_for("member"), type="text-embedding", q="openai").content.decode()
    )

    assert page.values and all("embedding" in v for v in page.values)


@pytest.mark.parametrize(
    "params", [{"type": "hologram"}, {"field": "<script>"}, {"id": 'x" onmouseover="'}]
)
def test_search_refuses_malformed_widget_parameters(client_for, workspace, params):
    assert search(client_for("member"), **params).status_code == 400


def test_usable_models_come_first_and_the_rest_wait_behind_show_unavailable(
    workspace, openai_default
):
    form = field_form(workspace, model_type="llm")()
    html = str(form["model"])
    page = PickerPage(html)
    before, summary, after = html.partition("Show unavailable (")
    assert summary, "the unavailable models sit behind a disclosure"
    hidden = int(after.split(")", 1)[0])
    unusable = [value for value in page.values if "disabled" in page.radio(value)]
    assert hidden == len(unusable) > 0
    assert all(f'value="{value}"' not in before for value in unusable)
    assert 'value="openai/gpt-4o"' in before
