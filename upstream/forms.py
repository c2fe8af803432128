"""The form builder: a provider's credential schema becomes a Django form.

This is the one place credential forms come from, and `clean_credential_values` runs the same
form on values that arrive by any other path (import file, admin, API), so a schema is
validated identically everywhere.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from .schema import CredentialSchema, SchemaField


class CredentialValuesInvalid(ValueError):
    """Values that do not satisfy a schema; `errors` maps each variable to its messages. Each
    write path turns it into its own error (a form error, a provisioning error with the path)."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        first_variable, messages = next(iter(errors.items()))
        self.field = first_variable
        self.message = f"{first_variable}: {messages[0]}"
        super().__init__(self.message)


def reject_control_characters(value: Any) -> None:
    if isinstance(value, str) and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError("Remove the control characters (line breaks, tabs) from this value.")


http_url_validator = URLValidator(
    schemes=["http", "https"],
    message="Enter a full URL that starts with http:// or https://.",
)


def _form_field(spec: SchemaField) -> forms.Field:
    # A field shown only under a condition is checked for "required" in SchemaForm.clean(),
    # where the condition can be evaluated.
    required = spec.required and not spec.show_on
    common: dict[str, Any] = {"label": spec.label, "help_text": spec.help, "required": required}
    attrs: dict[str, str] = {}
    if spec.placeholder:
        attrs["placeholder"] = spec.placeholder
    if spec.show_on:
        attrs["data-show-on"] = json.dumps([[c.variable, c.value] for c in spec.show_on])

    if spec.type == "secret":
        attrs.update(autocomplete="new-password", spellcheck="false")
        return forms.CharField(
            max_length=spec.max_length,
            widget=forms.PasswordInput(attrs=attrs),
            validators=[reject_control_characters],
            **common,
        )
    if spec.type == "url":
        attrs.update(inputmode="url", spellcheck="false")
        return forms.CharField(
            max_length=spec.max_length,
            widget=forms.TextInput(attrs=attrs),
            validators=[http_url_validator],
            initial=spec.default,
            **common,
        )
    if spec.type == "select":
        choices = [(o.value, o.label) for o in spec.options]
        if not spec.required:
            choices = [("", "—"), *choices]
        return forms.ChoiceField(
            choices=choices, initial=spec.default, widget=forms.Select(attrs=attrs), **common
        )
    if spec.type == "switch":
        common["required"] = False  # an unchecked box is a valid answer
        return forms.BooleanField(
            initial=bool(spec.default), widget=forms.CheckboxInput(attrs=attrs), **common
        )
    if spec.type == "number":
        field_class = forms.IntegerField if isinstance(spec.default, int) else forms.FloatField
        return field_class(initial=spec.default, widget=forms.NumberInput(attrs=attrs), **common)
    return forms.CharField(
        max_length=spec.max_length,
        widget=forms.TextInput(attrs=attrs),
        validators=[reject_control_characters],
        initial=spec.default,
        **common,
    )


class SchemaForm(forms.Form):
    """Base class of generated forms; `schema` is set on each generated subclass."""

    schema: CredentialSchema

    def _shown(self, spec: SchemaField, data: dict[str, Any]) -> bool:
        for condition in spec.show_on:
            value = data.get(condition.variable)
            if isinstance(value, bool):
                value = "true" if value else "false"
            if str(value if value is not None else "") != condition.value:
                return False
        return True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for spec in self.schema.fields:
            if not spec.show_on:
                continue
            if not self._shown(spec, cleaned):
                # Hidden fields neither count nor keep stale values.
                self.errors.pop(spec.variable, None)
                cleaned.pop(spec.variable, None)
            elif spec.required and cleaned.get(spec.variable) in (None, ""):
                self.add_error(spec.variable, "This field is required.")
        return cleaned

    def credential_values(self) -> dict[str, Any]:
        """The cleaned values worth storing: empty optional values are left out."""
        values = {}
        for spec in self.schema.fields:
            value = self.cleaned_data.get(spec.variable)
            if value is None or value == "":
                continue
            values[spec.variable] = value
        return values


def build_schema_form(schema: CredentialSchema) -> type[SchemaForm]:
    """A form class with one field per schema field, in schema order."""
    fields = {spec.variable: _form_field(spec) for spec in schema.fields}
    return type("GeneratedSchemaForm", (SchemaForm,), {**fields, "schema": schema})


def clean_credential_values(schema: CredentialSchema, values: dict[str, Any]) -> dict[str, Any]:
    """Validate values from any write path with the same form; raise CredentialValuesInvalid."""
    if not isinstance(values, dict):
        raise CredentialValuesInvalid({"values": ["must be a mapping of field to value"]})
    unknown = sorted(set(values) - {spec.variable for spec in schema.fields})
    if unknown:
        raise CredentialValuesInvalid({unknown[0]: ["is not a field of this provider's schema"]})
    data: dict[str, Any] = {}
    for spec in schema.fields:
        value = values.get(spec.variable)
        if spec.type == "switch":
            if value not in (None, True, False):
                raise CredentialValuesInvalid({spec.variable: ["must be true or false"]})
            if value:
                data[spec.variable] = "on"
        elif value is not None:
            if isinstance(value, (dict, list)):
                raise CredentialValuesInvalid({spec.variable: ["must be a single value"]})
            data[spec.variable] = str(value)
    form = build_schema_form(schema)(data=data)
    if not form.is_valid():
        raise CredentialValuesInvalid({k: [str(m) for m in v] for k, v in form.errors.items()})
    return form.credential_values()
