"""The credential form: a name plus the fields the provider's schema asks for."""

from __future__ import annotations

from django import forms

from upstream.forms import SchemaForm, build_schema_form, reject_control_characters
from upstream.schema import MODEL_FEATURES, MODEL_TYPES, CredentialSchema

from .models import default_custom_model_features

FEATURE_LABELS = {
    "vision": "Vision (images in)",
    "tool-call": "Tool calling",
    "json-mode": "JSON mode",
    "structured-output": "Structured output (JSON schema)",
    "streaming": "Streaming",
    "reasoning": "Reasoning (reasoning_effort)",
    "audio": "Audio",
    "document": "Documents",
}


def features_field(**kwargs) -> forms.MultipleChoiceField:
    """The custom model's features, as checkboxes in the catalog's order."""
    return forms.MultipleChoiceField(
        label="Features",
        choices=[(f, FEATURE_LABELS.get(f, f)) for f in MODEL_FEATURES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=(
            "What the model can do. The gateway refuses a chat that needs a feature left "
            "unticked (tools, images, a JSON schema, a stream, reasoning_effort)."
        ),
        **kwargs,
    )


class CustomModelFeaturesForm(forms.Form):
    """Edit a custom model's features (its page)."""

    features = features_field()


class CredentialFormMixin(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        required=False,
        validators=[reject_control_characters],
        help_text="Left empty, the next free “API KEY n” is used.",
    )

    def __init__(self, *args, kept_secrets: dict[str, str] | None = None, **kwargs):
        """`kept_secrets` maps a secret field to the placeholder shown instead of its value;
        such a field may be left empty to keep what is stored (or what was typed before)."""
        super().__init__(*args, **kwargs)
        addresses = [self.schema.get(v).label for v in self.schema.address_variables]
        for variable, placeholder in (kept_secrets or {}).items():
            field = self.fields.get(variable)
            if field is not None:
                field.required = False
                field.widget.attrs["placeholder"] = placeholder
                if addresses:
                    # The service refuses a kept secret at a new address; say so up front.
                    note = f"Changing the {' or '.join(addresses)} needs it typed again."
                    field.help_text = f"{field.help_text} {note}".strip()


def credential_form_class(schema: CredentialSchema) -> type[SchemaForm]:
    schema_form = build_schema_form(schema)
    return type(
        "CredentialForm",
        (CredentialFormMixin, schema_form),
        {"field_order": ["name", *(f.variable for f in schema.fields)]},
    )


NEW_CREDENTIAL = ""


def reuse_choice_label(credential) -> str:
    """How a credential reads in Add Model's "Credential" select: its name and its scope."""
    scope = credential.model_name or "provider credential"
    return f"{credential.name} · {scope}"


def custom_model_form_class(provider, *, credentials=()) -> type[SchemaForm]:
    """Add Model, in two groups: the model (name, type, features), then its credential: one
    of the provider's `credentials` to reuse, or a new one (custom-model schema)."""
    credential_form = credential_form_class(provider.custom_model_schema)
    label = provider.label
    fields = {
        "model_name": forms.CharField(
            label="Model name",
            max_length=200,
            validators=[reject_control_characters],
            help_text=provider.model_name_help or f"As {label} spells it.",
        ),
        "model_type": forms.ChoiceField(
            label="Model type",
            choices=[(t, MODEL_TYPES[t]) for t in provider.model_types],
        ),
        # Only chat models are checked against their features; a new name + type gets them
        # (an existing model keeps its own: edit them on its page).
        "features": features_field(initial=list(default_custom_model_features("llm"))),
        "credential": forms.ChoiceField(
            label="Credential",
            choices=[
                (NEW_CREDENTIAL, "New credential"),
                *((str(c.pk), reuse_choice_label(c)) for c in credentials),
            ],
            required=False,
            help_text=(
                f"One of {label}'s credentials, or a new one. A stored key is only sent to "
                "the address it was saved with: change the address and type the key again."
            ),
        ),
        "name": forms.CharField(
            label="Credential name",
            max_length=100,
            required=False,
            validators=[reject_control_characters],
            help_text="Left empty: the reused credential's name, or the next free “API KEY n”.",
        ),
    }
    variables = [f.variable for f in provider.custom_model_schema.fields]
    groups = (
        ("Model", ("model_name", "model_type", "features")),
        ("Credential", ("credential", "name", *variables)),
    )
    return type(
        "CustomModelForm",
        (credential_form,),
        {
            **fields,
            "field_order": [name for _, names in groups for name in names],
            "group_names": groups,
            "groups": property(
                lambda form: [
                    (legend, [form[name] for name in names if name in form.fields])
                    for legend, names in form.group_names
                ]
            ),
        },
    )
