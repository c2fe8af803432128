"""factory_boy factories for the models tests build on.

Each writes its row directly, with values a test that does not care about them can live with;
a test passes what it asserts on. Rows whose writing is what a test checks go through the
services instead.
"""

import json
from datetime import timedelta

import factory
from django.utils import timezone

from credentials.models import ValidationKind, default_custom_model_features
from system.models import Preferred, QuotaPeriod
from system.quotas import period_start
from workspaces.models import Membership, Plan, Role, User, Workspace
from workspaces.plans import ensure_default_plans

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)
    # People in tests have read their mail; tests of the unconfirmed case pass None.
    email_confirmed_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"workspace-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


class CredentialFactory(factory.django.DjangoModelFactory):
    """A stored credential, written directly (tests of validation go through the services).

    Its base URL is a loopback port that is not allow-listed, so any accidental provider call
    is refused by the SSRF guard before a packet leaves.
    """

    class Meta:
        model = "credentials.Credential"

    workspace = factory.SubFactory(WorkspaceFactory)
    provider = "openai"
    name = factory.Sequence(lambda n: f"Key {n}")
    secret_data = factory.LazyFunction(lambda: json.dumps({"api_key": "sk-test-factory-000000"}))
    config = factory.LazyFunction(lambda: {"base_url": "http://127.0.0.1:9/v1"})
    masks = factory.LazyFunction(lambda: {"api_key": "sk-…0000"})


class CustomModelFactory(factory.django.DjangoModelFactory):
    """A workspace's own model of a provider: the scope its credentials and pool belong to."""

    class Meta:
        model = "credentials.CustomModel"

    workspace = factory.SubFactory(WorkspaceFactory)
    provider = "openai"
    name = factory.Sequence(lambda n: f"custom-model-{n}")
    type = "llm"
    # As the app creates one: its type's default features.
    features = factory.LazyAttribute(lambda o: list(default_custom_model_features(o.type)))


class PendingValidationFactory(factory.django.DjangoModelFactory):
    """A validation no worker has picked up yet (queued, five minutes before it times out)."""

    class Meta:
        model = "credentials.PendingValidation"

    workspace = factory.SubFactory(WorkspaceFactory)
    provider = "openai"
    kind = ValidationKind.CHECK
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=5))


class PoolFactory(factory.django.DjangoModelFactory):
    """A load-balancing pool of a predefined model, switched off and without entries."""

    class Meta:
        model = "balancing.Pool"

    workspace = factory.SubFactory(WorkspaceFactory)
    provider = "openai"
    model_name = "gpt-4o"
    model_type = "llm"


class PoolEntryFactory(factory.django.DjangoModelFactory):
    """A credential of the pool's workspace, at the end of the pool."""

    class Meta:
        model = "balancing.PoolEntry"

    pool = factory.SubFactory(PoolFactory)
    credential = factory.SubFactory(
        CredentialFactory, workspace=factory.SelfAttribute("..pool.workspace")
    )
    position = factory.LazyAttribute(
        lambda entry: entry.pool.entries.count() if entry.pool.pk else 0
    )


class ModelSettingFactory(factory.django.DjangoModelFactory):
    """A workspace's switch for one model (tests pass `enabled=False` to switch it off)."""

    class Meta:
        model = "providers.ModelSetting"

    workspace = factory.SubFactory(WorkspaceFactory)
    provider = "openai"
    model_name = "gpt-4o"
    model_type = "llm"


class ModelRefreshFactory(factory.django.DjangoModelFactory):
    """A "Refresh models" job of one of the workspace's credentials, not yet run."""

    class Meta:
        model = "providers.ModelRefresh"

    workspace = factory.SubFactory(WorkspaceFactory)
    provider = "openai"
    credential = factory.SubFactory(
        CredentialFactory, workspace=factory.SelfAttribute("..workspace")
    )
    credential_name = factory.LazyAttribute(lambda refresh: refresh.credential.name)


class SystemProviderFactory(factory.django.DjangoModelFactory):
    """A provider the operator offers (one row per provider: asking twice gets the same)."""

    class Meta:
        model = "system.SystemProvider"
        django_get_or_create = ("provider",)

    provider = "openai"


class SystemCredentialFactory(factory.django.DjangoModelFactory):
    """An operator's key, written directly (tests of validation go through the admin's form).

    Like `CredentialFactory`, its base URL is a loopback port that is not allow-listed.
    """

    class Meta:
        model = "system.SystemCredential"

    system_provider = factory.SubFactory(SystemProviderFactory)
    name = factory.Sequence(lambda n: f"operator-{n}")
    secret_data = factory.LazyFunction(lambda: json.dumps({"api_key": "sk-test-factory-system"}))
    config = factory.LazyFunction(lambda: {"base_url": "http://127.0.0.1:9/v1"})
    masks = factory.LazyFunction(lambda: {"api_key": "sk-…stem"})


def free_plan() -> Plan:
    """The free plan. A migration creates it; transactional tests flush it, so make it again."""
    ensure_default_plans(Plan)
    return Plan.objects.get(slug=Plan.FREE)


class PlanQuotaFactory(factory.django.DjangoModelFactory):
    """The free plan's monthly quota of calls to a system provider."""

    class Meta:
        model = "system.PlanQuota"

    plan = factory.LazyFunction(free_plan)
    provider = "openai"
    limit = 100


class ModelCreditFactory(factory.django.DjangoModelFactory):
    """What one call to a model costs on quotas counted in credits."""

    class Meta:
        model = "system.ModelCredit"

    provider = "openai"
    model_name = "gpt-4o"
    credits = 2


class QuotaUsageFactory(factory.django.DjangoModelFactory):
    """A workspace's metered use of a system provider in this month."""

    class Meta:
        model = "system.QuotaUsage"

    workspace = factory.SubFactory(WorkspaceFactory)
    provider = "openai"
    period_start = factory.LazyFunction(lambda: period_start(QuotaPeriod.MONTHLY))
    used = 0


class ProviderPreferenceFactory(factory.django.DjangoModelFactory):
    """A workspace preferring the operator's (system) credentials for a provider."""

    class Meta:
        model = "system.ProviderPreference"

    workspace = factory.SubFactory(WorkspaceFactory)
    provider = "openai"
    preferred = Preferred.SYSTEM


class UsageRecordFactory(factory.django.DjangoModelFactory):
    """One successful chat call, made now. `.build()` gives the unsaved record a call hands to
    the usage writer.

    Like a call's record (invocation/api.py), it names its workspace by id only, so a record
    still waiting to be written when its workspace is deleted is refused by the database, not
    by Django's check for an unsaved related object.
    """

    class Meta:
        model = "invocation.UsageRecord"
        exclude = ("workspace",)

    workspace = factory.LazyFunction(WorkspaceFactory.create)
    workspace_id = factory.SelfAttribute("workspace.pk")
    provider = "openai"
    model = "gpt-4o-mini"
    model_type = "llm"
    endpoint = "chat"


class InvitationFactory(factory.django.DjangoModelFactory):
    """An address invited to a workspace as a member, not yet emailed."""

    class Meta:
        model = "workspaces.Invitation"

    workspace = factory.SubFactory(WorkspaceFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.test")
