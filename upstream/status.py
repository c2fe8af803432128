"""The one function that decides a model's status, wherever models are listed or used."""

from __future__ import annotations

from dataclasses import dataclass

ACTIVE = "active"
NO_CREDENTIAL = "no-credential"
CREDENTIAL_FAILING = "failing"
DISABLED = "disabled"
QUOTA_EXCEEDED = "quota-exceeded"

LABELS = {
    ACTIVE: "Active",
    NO_CREDENTIAL: "No credential",
    CREDENTIAL_FAILING: "Credential failing",
    DISABLED: "Disabled",
    QUOTA_EXCEEDED: "Quota exceeded",
}


@dataclass(frozen=True)
class ModelStatus:
    code: str
    reason: str = ""

    @property
    def label(self) -> str:
        return LABELS[self.code]

    @property
    def usable(self) -> bool:
        return self.code == ACTIVE


def model_status(
    *,
    enabled: bool,
    default_credential_status: str | None,
    custom: bool = False,
    quota_exceeded: bool = False,
) -> ModelStatus:
    """`default_credential_status` is the status of the credential calls would use (the
    provider's default for predefined models, the model's own default for custom ones), or
    None when there is none. Disabled wins over everything: the workspace switched it off."""
    if not enabled:
        return ModelStatus(DISABLED, "Switched off in this workspace.")
    if quota_exceeded:
        return ModelStatus(QUOTA_EXCEEDED, "The plan's quota for this provider is used up.")
    if default_credential_status is None:
        reason = "No credential selected." if custom else "The provider has no default credential."
        return ModelStatus(NO_CREDENTIAL, reason)
    if default_credential_status == "failing":
        return ModelStatus(CREDENTIAL_FAILING, "The credential it uses fails validation.")
    return ModelStatus(ACTIVE)
