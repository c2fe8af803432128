"""The operator's side in the Django admin: system providers and their credentials
(validated against the provider before they are saved, secrets encrypted and only ever shown
masked), plan quotas (inline on each plan), model credits and the metered usage. Providers and
credentials are saved and deleted (one by one or "Delete selected") through system/services.py
as the staff user (`Operator.staff`)."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from credentials.services import kept_secret_moved
from upstream.calling import get_adapter
from upstream.errors import ProviderError
from upstream.forms import _form_field
from upstream.registry import catalog, get_provider
from workspaces.actors import Operator
from workspaces.admin import PlanAdmin
from workspaces.models import Plan

from . import services
from .models import ModelCredit, PlanQuota, QuotaUsage, SystemCredential, SystemProvider


def provider_choices() -> list[tuple[str, str]]:
    return [(p.key, p.label) for p in catalog()]


# -- system providers -------------------------------------------------------------------------


class SystemProviderForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=provider_choices)
    offered_models = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One model name per line. Empty offers every model the catalog lists or "
        "the model refresh finds.",
    )

    class Meta:
        model = SystemProvider
        fields = ["provider", "enabled", "offered_models"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["offered_models"] = "\n".join(self.instance.offered_models)

    def clean_offered_models(self) -> list[str]:
        names = [line.strip() for line in self.cleaned_data["offered_models"].splitlines()]
        return list(dict.fromkeys(name for name in names if name))


class SystemCredentialInline(admin.TabularInline):
    model = SystemCredential
    extra = 0
    can_delete = True
    fields = ["credential_link", "masked", "enabled", "status", "last_error_message"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # added on their own page, where they are validated

    @admin.display(description="name")
    def credential_link(self, obj: SystemCredential) -> str:
        url = reverse("admin:system_systemcredential_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.name)

    @admin.display(description="values")
    def masked(self, obj: SystemCredential) -> str:
        return masked_values(obj)


def masked_values(obj: SystemCredential) -> str:
    shown = {**obj.config, **obj.masks}
    return format_html_join(", ", "{}: {}", sorted(shown.items())) if shown else "—"


@admin.register(SystemProvider)
class SystemProviderAdmin(admin.ModelAdmin):
    form = SystemProviderForm
    list_display = ["__str__", "enabled", "credential_count", "models_refreshed_at"]
    readonly_fields = ["discovered", "models_refreshed_at", "refresh_error", "add_credential"]
    inlines = [SystemCredentialInline]
    actions = ["refresh_models"]

    @admin.display(description="credentials")
    def credential_count(self, obj: SystemProvider) -> int:
        return obj.credentials.count()

    @admin.display(description="models found by the last refresh")
    def discovered(self, obj: SystemProvider) -> str:
        names = [f"{m.get('name')} ({m.get('type')})" for m in obj.discovered_models]
        return ", ".join(names) or "—"

    @admin.display(description="")
    def add_credential(self, obj: SystemProvider) -> str:
        if not obj.pk:
            return "Save the provider first, then add its credentials."
        query = urlencode({"system_provider": obj.pk})
        url = f"{reverse('admin:system_systemcredential_add')}?{query}"
        return format_html('<a class="addlink" href="{}">Add credential</a>', url)

    @admin.action(description="Refresh models now")
    def refresh_models(self, request, queryset) -> None:
        for system in queryset:
            outcome = services.system_models_refresh(system)
            level = messages.SUCCESS if outcome.ok else messages.ERROR
            self.message_user(request, f"{system}: {outcome.message}", level)

    def save_model(self, request, obj, form, change) -> None:
        services.system_provider_save(system=obj, acting_user=Operator.staff(request.user))

    def delete_model(self, request, obj) -> None:
        services.system_provider_delete(system=obj, acting_user=Operator.staff(request.user))

    def delete_queryset(self, request, queryset) -> None:
        for system in queryset:
            self.delete_model(request, system)


def cleaned_secret_values(spec, cleaned: dict) -> set[str]:
    """The secret fields the operator typed (the others, left empty, keep what is stored)."""
    return {
        f.variable
        for f in spec.credential_schema.fields
        if f.is_secret and cleaned.get(f"value_{f.variable}") not in (None, "")
    }


class SystemCredentialForm(forms.ModelForm):
    """The provider's credential fields, validated against the provider before saving.
    Secret fields are never shown back: left empty on an edit, the stored value is kept."""

    class Meta:
        model = SystemCredential
        fields = ["system_provider", "name", "enabled"]

    schema = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spec = None
        system = self.instance.system_provider if self.instance.pk else None
        if system is None:
            chosen = self.data.get("system_provider") or self.initial.get("system_provider")
            system = SystemProvider.objects.filter(pk=chosen).first() if chosen else None
        self.spec = get_provider(system.provider) if system else None
        if self.spec is None:
            return
        stored = self.instance.config if self.instance.pk else {}
        for field in self.spec.credential_schema.fields:
            form_field = _form_field(field)
            if field.is_secret and self.instance.pk:
                form_field.required = False
                form_field.help_text = (
                    "Stored ("
                    + self.instance.masks.get(field.variable, "…")
                    + "). Leave empty to keep it."
                )
            elif field.variable in stored:
                form_field.initial = stored[field.variable]
            self.fields[f"value_{field.variable}"] = form_field

    def clean(self):
        cleaned = super().clean()
        if self.spec is None:
            raise forms.ValidationError(
                "Choose the system provider and save: its credential fields then appear."
            )
        secrets = self.instance.secrets if self.instance.pk else {}
        config, new_secrets = {}, dict(secrets)
        for field in self.spec.credential_schema.fields:
            value = cleaned.get(f"value_{field.variable}")
            if value in (None, ""):
                continue
            if field.type == "switch":
                value = bool(value)
            if field.is_secret:
                new_secrets[field.variable] = value
            else:
                config[field.variable] = value
        kept = [v for v in secrets if v not in cleaned_secret_values(self.spec, cleaned)]
        moved = kept_secret_moved(
            schema=self.spec.credential_schema,
            stored_config=self.instance.config if self.instance.pk else {},
            values=config,
            kept=kept,
        )
        if moved:
            self.add_error(f"value_{kept[0]}", moved)
            return cleaned
        missing = [
            f.label
            for f in self.spec.credential_schema.fields
            if f.required and not f.show_on and f.variable not in {**config, **new_secrets}
        ]
        if missing:
            raise forms.ValidationError(f"Required: {', '.join(missing)}.")
        try:
            get_adapter(self.spec).validate({**config, **new_secrets})
        except ProviderError as error:
            raise forms.ValidationError(f"{error.message}. {error.hint}".strip()) from None
        self.values = (config, new_secrets)
        return cleaned

    def store(self, credential: SystemCredential, *, acting_user) -> SystemCredential:
        """The validated values, saved by the one service that stores operator keys."""
        config, secrets = self.values
        return services.system_credential_store(
            credential=credential, config=config, secrets=secrets, acting_user=acting_user
        )


@admin.register(SystemCredential)
class SystemCredentialAdmin(admin.ModelAdmin):
    form = SystemCredentialForm
    list_display = ["name", "system_provider", "enabled", "status", "last_checked_at"]
    list_filter = ["system_provider", "enabled", "status"]
    readonly_fields = ["status", "last_error_message", "last_checked_at"]

    def get_fields(self, request, obj=None):
        form = self.get_form(request, obj)(
            data=request.POST or None, instance=obj, initial=request.GET.dict()
        )
        return [*form.fields, *self.readonly_fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["fields"] = ["system_provider", "name", "enabled"]
        base = super().get_form(request, obj, change=change, **kwargs)

        class Form(base):
            def __init__(self, *args, **inner):
                if not inner.get("initial") and request.GET.get("system_provider"):
                    inner["initial"] = {"system_provider": request.GET["system_provider"]}
                super().__init__(*args, **inner)

        return Form

    def save_model(self, request, obj, form, change) -> None:
        form.store(obj, acting_user=Operator.staff(request.user))

    def delete_model(self, request, obj) -> None:
        services.system_credential_delete(credential=obj, acting_user=Operator.staff(request.user))

    def delete_queryset(self, request, queryset) -> None:
        for credential in queryset:
            self.delete_model(request, credential)


# -- plans, credits and usage ---------------------------------------------------------------


class PlanQuotaForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=provider_choices)

    class Meta:
        model = PlanQuota
        fields = ["provider", "unit", "limit", "period"]


class PlanQuotaInline(admin.TabularInline):
    model = PlanQuota
    form = PlanQuotaForm
    extra = 0


admin.site.unregister(Plan)


@admin.register(Plan)
class PlanWithQuotasAdmin(PlanAdmin):
    inlines = [*PlanAdmin.inlines, PlanQuotaInline]


class ModelCreditForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=provider_choices)

    class Meta:
        model = ModelCredit
        fields = ["provider", "model_name", "credits"]


@admin.register(ModelCredit)
class ModelCreditAdmin(admin.ModelAdmin):
    form = ModelCreditForm
    list_display = ["provider", "model_name", "credits"]
    list_filter = ["provider"]


@admin.register(QuotaUsage)
class QuotaUsageAdmin(admin.ModelAdmin):
    list_display = ["workspace", "provider", "period_start", "used", "updated_at"]
    list_filter = ["provider", "period_start"]
    readonly_fields = ["workspace", "provider", "period_start", "used", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False
