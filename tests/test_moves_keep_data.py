"""Moving a model or a task between apps keeps what people already have.

The API keys moved from the gateway app to `api_keys` and the usage records to `invocation`
(state-only migrations, same tables; gateway 0006 hands over their content types), and custom
models from `providers` to `credentials` (providers 0005 hands over theirs). These tests
take a database as it was before the moves, with the data a user has, run the migrations, and
check through today's code that nothing was lost; then the way back. A Celery task moved to
another module must keep its name, or the messages already queued under it are dropped.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from celery.backends.redis import RedisBackend
from celery.result import AsyncResult
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from api_keys.models import ApiKey
from api_keys.services import api_key_authenticate
from credentials.models import CustomModel
from invocation.models import UsageRecord
from workspaces.models import AuditEntry, Membership, Role, User

BEFORE_MOVE = ("gateway", "0005_revoke_keys_of_former_members")
# Every app that had a migration since, at its last migration before the moves.
BEFORE_THE_MOVES = {
    "gateway": "0005_revoke_keys_of_former_members",
    "providers": "0004_modelrefresh_can_time_out",
    "credentials": "0002_pending_add_to_pool",
}
NEW_APPS = ("api_keys", "invocation")
MOVED = {"apikey": "api_keys", "usagerecord": "invocation"}  # model → its app now
RAW_KEY = "mck_moved-key-that-a-client-still-sends-0123456789"

# The names tasks were queued under before the moves (each `name=` in */tasks.py).
TASK_NAMES_BEFORE_THE_MOVES = (
    "credentials.validate_credential",
    "credentials.sweep_pending_validations",
    "credentials.revalidate_all",
    "credentials.revalidate_credential",
    "credentials.revalidate_system_credential",
    "providers.refresh_models",
    "system.refresh_models",
)


# --- migrating the test database -----------------------------------------------------------


def migrate(targets):
    """Migrate the test database to `targets`; returns an executor that knows the result."""
    MigrationExecutor(connection).migrate(targets)
    ContentType.objects.clear_cache()  # rows were renamed under the process-wide cache
    return MigrationExecutor(connection)  # a fresh loader reads what is applied now


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def before_the_moves():
    """Every app at its leaf, except those that moved models (at their migration before the
    moves) and the two new apps (not applied)."""
    targets = [
        (app, BEFORE_THE_MOVES.get(app, name)) for app, name in latest() if app not in NEW_APPS
    ]
    return targets + [(app, None) for app in NEW_APPS]


def migrated_back():
    """The database as it was before the moves; returns its historical models (`apps`)."""
    targets = before_the_moves()
    executor = migrate(targets)
    applied = executor.loader.applied_migrations
    assert BEFORE_MOVE in applied
    assert ("gateway", "0006_models_moved_out") not in applied
    assert ("providers", "0005_custom_models_moved_out") not in applied
    assert ("credentials", "0003_custommodel") not in applied
    assert not [key for key in applied if key[0] in NEW_APPS]
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def migrated_forward():
    executor = migrate(latest())
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []


@pytest.fixture
def migrations_restored(transactional_db):
    """Whatever the test does, the database ends at the latest migrations (before the flush
    that follows every transactional test), so later tests see today's schema and state."""
    yield
    migrated_forward()


# --- a user's data, written through the models as they were -------------------------------


def populate_before_the_moves(apps, *, partial_migrate: bool) -> dict:
    """What a workspace had before the moves: a member with a key in use, its usage history, an
    audit entry, an admin permission on keys and an admin log entry for the key.

    `partial_migrate`: someone ran `migrate api_keys` on its own first, whose post_migrate made
    an api_keys content type (with its own permissions) next to gateway's."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    LogEntry = apps.get_model("admin", "LogEntry")
    User = apps.get_model("workspaces", "User")
    Workspace = apps.get_model("workspaces", "Workspace")
    Membership = apps.get_model("workspaces", "Membership")
    AuditEntry = apps.get_model("workspaces", "AuditEntry")
    ApiKey = apps.get_model("gateway", "ApiKey")
    UsageRecord = apps.get_model("gateway", "UsageRecord")

    # Before the moves only gateway's content types existed.
    ContentType.objects.filter(app_label__in=NEW_APPS).delete()
    types = {
        model: ContentType.objects.get_or_create(app_label="gateway", model=model)[0]
        for model in MOVED
    }
    stray = None
    if partial_migrate:
        stray = ContentType.objects.create(app_label="api_keys", model="apikey")
        Permission.objects.create(
            content_type=stray, codename="change_apikey", name="Can change api key"
        )

    user = User.objects.create(email="keeper@moves.test", password="!")  # not a superuser
    workspace = Workspace.objects.create(name="Moves", slug="moves")
    Membership.objects.create(workspace=workspace, user=user, role=Role.MEMBER)
    key = ApiKey.objects.create(
        workspace=workspace,
        name="Billing app",
        prefix=RAW_KEY[:10],
        key_hash=hashlib.sha256(RAW_KEY.encode()).hexdigest(),
        created_by=user,
    )
    usage = UsageRecord.objects.create(
        workspace=workspace,
        api_key=key,
        user=user,
        provider="openai",
        model="gpt-4o-mini",
        model_type="chat",
        endpoint="chat",
        prompt_tokens=12,
        completion_tokens=34,
        latency_ms=56,
    )
    audit = AuditEntry.objects.create(
        workspace=workspace,
        actor=user,
        actor_email=user.email,
        action="api_key.create",
        object_type="api_key",
        object_id=str(key.pk),
        object_repr="Billing app",
    )
    permission, _ = Permission.objects.get_or_create(
        content_type=types["apikey"],
        codename="change_apikey",
        defaults={"name": "Can change api key"},
    )
    user.user_permissions.add(permission)
    log = LogEntry.objects.create(
        user=user,
        content_type=types["apikey"],
        object_id=str(key.pk),
        object_repr="Billing app",
        action_flag=CHANGE,
        change_message="[]",
    )
    return {
        "user": user.pk,
        "workspace": workspace.pk,
        "key": key.pk,
        "usage": usage.pk,
        "audit": audit.pk,
        "permission": permission.pk,
        "log": log.pk,
        "types": {model: ct.pk for model, ct in types.items()},
        "stray": stray.pk if stray else None,
        "keys": set(ApiKey.objects.values_list("pk", flat=True)),
        "usages": set(UsageRecord.objects.values_list("pk", flat=True)),
    }


# --- forwards ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("partial_migrate", [False, True], ids=["migrate", "partial-migrate"])
def test_migrating_from_before_the_moves_keeps_keys_usage_and_admin_rights(
    migrations_restored, partial_migrate
):
    """If this fails, a deploy with the moves would cost users data: the keys their
    applications send stop working, their usage history disappears or loses its key, their
    audit trail no longer finds the key, and admins lose their permissions on keys and the
    admin history of them (both point at the content type, which must keep its row)."""
    before = populate_before_the_moves(migrated_back(), partial_migrate=partial_migrate)

    migrated_forward()

    # The same rows, read by today's models.
    assert set(ApiKey.objects.values_list("pk", flat=True)) == before["keys"]
    assert set(UsageRecord.objects.values_list("pk", flat=True)) == before["usages"]
    key = ApiKey.objects.get(pk=before["key"])
    assert (key.workspace_id, key.created_by_id, key.name) == (
        before["workspace"],
        before["user"],
        "Billing app",
    )
    usage = UsageRecord.objects.get(pk=before["usage"])
    assert usage.api_key == key
    assert (usage.prompt_tokens, usage.completion_tokens) == (12, 34)

    # The key a client holds still authenticates.
    authenticated = api_key_authenticate(RAW_KEY)
    assert authenticated is not None and authenticated.pk == key.pk

    # The content types moved with the models and kept their rows.
    for model, app_label in MOVED.items():
        moved = ContentType.objects.get(app_label=app_label, model=model)
        assert moved.pk == before["types"][model]
    assert ContentType.objects.get_for_model(ApiKey).pk == before["types"]["apikey"]
    assert ContentType.objects.get_for_model(UsageRecord).pk == before["types"]["usagerecord"]
    assert not ContentType.objects.filter(app_label="gateway", model__in=list(MOVED)).exists()
    if before["stray"] is not None:
        assert not ContentType.objects.filter(pk=before["stray"]).exists()

    # The admin permission and log entry point at it, so they follow.
    permission = Permission.objects.get(pk=before["permission"])
    assert permission.content_type_id == before["types"]["apikey"]
    user = User.objects.get(pk=before["user"])
    assert not user.is_superuser
    assert user.has_perm("api_keys.change_apikey")
    assert not user.has_perm("api_keys.delete_apikey")  # the check above is no blanket yes
    log = LogEntry.objects.get(pk=before["log"])
    assert log.content_type_id == before["types"]["apikey"]
    assert log.get_edited_object() == key

    # The audit trail still finds the key.
    audit = AuditEntry.objects.get(object_type="api_key", object_id=str(key.pk))
    assert audit.pk == before["audit"]
    assert audit.workspace_id == key.workspace_id


@pytest.mark.django_db(transaction=True)
def test_custom_models_keep_their_rows_audit_and_admin_rights_when_they_move_to_credentials(
    migrations_restored,
):
    """If this fails, a deploy with the move would cost a workspace its custom models (and so
    every model id `provider/name#custom` its applications call), or the admin permissions and
    history on them, or the audit trail's way to them."""
    apps = migrated_back()
    ContentType_ = apps.get_model("contenttypes", "ContentType")
    Permission_ = apps.get_model("auth", "Permission")
    ContentType_.objects.filter(app_label="credentials", model="custommodel").delete()
    old_type, _ = ContentType_.objects.get_or_create(app_label="providers", model="custommodel")
    permission, _ = Permission_.objects.get_or_create(
        content_type=old_type, codename="change_custommodel", defaults={"name": "Can change"}
    )
    user = apps.get_model("workspaces", "User").objects.create(email="cm@moves.test", password="!")
    user.user_permissions.add(permission)
    workspace = apps.get_model("workspaces", "Workspace").objects.create(name="CM", slug="cm")
    model = apps.get_model("providers", "CustomModel").objects.create(
        workspace=workspace, provider="openai_compatible", name="llama-3-70b", type="llm"
    )
    apps.get_model("workspaces", "AuditEntry").objects.create(
        workspace=workspace,
        action="model.add",
        object_type="custommodel",
        object_id=str(model.pk),
        object_repr=str(model.name),
    )

    migrated_forward()

    moved = CustomModel.objects.get(pk=model.pk)
    assert (moved.workspace_id, moved.provider, moved.name, moved.type) == (
        workspace.pk,
        "openai_compatible",
        "llama-3-70b",
        "llm",
    )
    assert ContentType.objects.get_for_model(CustomModel).pk == old_type.pk
    assert not ContentType.objects.filter(app_label="providers", model="custommodel").exists()
    assert User.objects.get(pk=user.pk).has_perm("credentials.change_custommodel")
    assert AuditEntry.objects.filter(object_type="custommodel", object_id=str(model.pk)).exists()


# --- backwards -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_migrating_back_before_the_moves_and_forward_again_keeps_everything(
    migrations_restored, workspace
):
    """If this fails, rolling back a deploy (gateway to 0005) would lose keys or usage
    history, or leave the key and usage content types under apps the old code does not know,
    so admins would lose their permissions on keys and the admin history of them; and going
    forward again would not bring them back."""
    user = User.objects.create_user("roller@moves.test", "irrelevant")
    Membership.objects.create(workspace=workspace, user=user, role=Role.MEMBER)
    key = ApiKey.objects.create(
        workspace=workspace,
        name="Reporting",
        prefix=RAW_KEY[:10],
        key_hash=hashlib.sha256(RAW_KEY.encode()).hexdigest(),
        created_by=user,
    )
    usage = UsageRecord.objects.create(
        workspace=workspace,
        api_key=key,
        user=user,
        provider="openai",
        model="gpt-4o-mini",
        model_type="chat",
        endpoint="chat",
    )
    types = {
        "apikey": ContentType.objects.get_for_model(ApiKey),
        "usagerecord": ContentType.objects.get_for_model(UsageRecord),
    }
    permission, _ = Permission.objects.get_or_create(
        content_type=types["apikey"],
        codename="change_apikey",
        defaults={"name": "Can change api key"},
    )
    user.user_permissions.add(permission)
    log = LogEntry.objects.create(
        user=user,
        content_type=types["apikey"],
        object_id=str(key.pk),
        object_repr=str(key),
        action_flag=CHANGE,
        change_message="[]",
    )

    apps = migrated_back()

    OldContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        old = OldContentType.objects.get(app_label="gateway", model=model)
        assert old.pk == types[model].pk
    assert not OldContentType.objects.filter(app_label__in=NEW_APPS).exists()
    OldApiKey = apps.get_model("gateway", "ApiKey")
    OldUsageRecord = apps.get_model("gateway", "UsageRecord")
    assert OldApiKey.objects.get(pk=key.pk).key_hash == key.key_hash
    assert OldUsageRecord.objects.get(pk=usage.pk).api_key_id == key.pk
    old_permission = apps.get_model("auth", "Permission").objects.get(pk=permission.pk)
    assert old_permission.content_type_id == types["apikey"].pk
    assert apps.get_model("admin", "LogEntry").objects.get(pk=log.pk).content_type_id == (
        types["apikey"].pk
    )

    migrated_forward()

    for model, app_label in MOVED.items():
        assert ContentType.objects.get(app_label=app_label, model=model).pk == types[model].pk
    assert not ContentType.objects.filter(app_label="gateway", model__in=list(MOVED)).exists()
    assert UsageRecord.objects.get(pk=usage.pk).api_key_id == key.pk
    assert api_key_authenticate(RAW_KEY).pk == key.pk
    assert User.objects.get(pk=user.pk).has_perm("api_keys.change_apikey")
    assert LogEntry.objects.get(pk=log.pk).get_edited_object() == key


# --- queued tasks --------------------------------------------------------------------------


def registered_tasks():
    from config.celery import app

    app.loader.import_default_modules()  # what a worker does at start: autodiscover tasks.py
    return app, set(app.tasks)


def test_tasks_queued_before_the_moves_are_still_registered():
    """If this fails, a worker started with the new code drops the messages already queued
    under an old name (a credential someone is adding is never checked, a "Refresh models"
    never finishes, scheduled re-validations and sweeps stop) with "Received unregistered
    task"."""
    _, names = registered_tasks()
    assert [name for name in TASK_NAMES_BEFORE_THE_MOVES if name not in names] == []


def test_every_beat_schedule_entry_names_a_registered_task():
    """If this fails, beat keeps publishing a task no worker knows: the scheduled credential
    re-validation, the sweep that wipes expired secrets, or the system model refresh silently
    stop happening."""
    app, names = registered_tasks()
    schedule = app.conf.beat_schedule
    assert schedule, "the beat schedule is empty: config/settings.py CELERY_BEAT_SCHEDULE"
    assert {
        entry: spec["task"] for entry, spec in schedule.items() if spec["task"] not in names
    } == {}


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_task_sent_by_its_old_name(celery_worker, workspace):
    """If this fails, a task queued by name before a deploy (here the sweep that wipes typed
    secrets and deletes old validation requests) is not run by a worker of today's code."""
    from credentials.models import PendingValidation, ValidationKind

    long_ago = timezone.now() - timedelta(days=2)
    old = PendingValidation.objects.create(
        workspace=workspace,
        provider="openai",
        kind=ValidationKind.CHECK,
        status="failed",
        expires_at=long_ago,
    )
    PendingValidation.objects.filter(pk=old.pk).update(created_at=long_ago)

    # The task ignores its result; asking for it here lets the test see the worker's verdict.
    sent = celery_worker.send_task("credentials.sweep_pending_validations", ignore_result=False)
    # Read from the worker's result store (the app's own backend may be one an earlier test
    # cached for this thread, e.g. embedded mode's in-memory one).
    results = RedisBackend(app=celery_worker, url=celery_worker.conf.result_backend)
    result = AsyncResult(sent.id, backend=results, app=celery_worker)
    assert result.get(timeout=60) is None  # raises the task's error if the worker refused it
    assert result.successful()
    assert not PendingValidation.objects.filter(pk=old.pk).exists()
