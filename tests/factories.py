"""factory_boy factories for the models tests build on."""

import json

import factory
from django.utils import timezone

from workspaces.models import Membership, Role, User, Workspace

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
