"""The audit log's rows as sentences ("Added key-b to the gpt-4o pool"), not action codes.

Rows store codes (`pool.entry_add`, `authentication_failed`) so they stay stable; this module
turns them into words when the log is read. The words for model types and provider errors
belong to the catalog (`upstream`), which this app may not import: the credentials app fills
`TYPE_WORDS` and `ERROR_WORDS` when it starts (`CredentialsConfig.ready`).
"""

from __future__ import annotations

import re

TYPE_WORDS: dict[str, str] = {}
ERROR_WORDS: dict[str, str] = {}

# action → sentence; {what} is the row's object in words, {d[key]} one of its details.
SENTENCES: dict[str, str] = {
    "api_key.create": "Created API key {what}",
    "api_key.revoke": "Revoked API key {what}",
    "credential.create": "Added credential {what}",
    "credential.update": "Changed credential {what}",
    "credential.delete": "Deleted credential {what}",
    "credential.default": "Made {what} the default credential",
    "credential.revalidate": "Re-checked credential {what}",
    "default_model.set": "Set the default model: {what}",
    "default_model.clear": "Cleared the default model: {what}",
    "environment.create": "Added environment {what}",
    "environment.rename": "Renamed environment {old_name} to {what}",
    "environment.keys": "Changed who may create keys in {what}",
    "environment.delete": "Deleted environment {what}",
    "environment.pin": "{environment} now uses {entry} for {what}",
    "environment.unpin": "{environment} follows the default for {what} again",
    "member.add": "Added member {what}",
    "member.invite": "Invited {what}",
    "member.invite.resend": "Sent the invitation to {what} again",
    "member.invite.cancel": "Cancelled the invitation to {what}",
    "member.join": "{what} joined",
    "member.leave": "{what} left the workspace",
    "member.remove": "Removed member {what}",
    "member.role": "Changed the role of {what}",
    "model.add": "Added custom model {what}",
    "model.features": "Changed the features of {what}",
    "model.readd": "Added custom model {what} again",
    "model.remove": "Removed custom model {what}",
    "model.enable": "Turned on {what}",
    "model.disable": "Turned off {what}",
    "pool.create": "Set up load balancing for {model}",
    "pool.update": "Changed load balancing for {model}",
    "pool.delete": "Removed load balancing for {model}",
    "pool.enable": "Turned on load balancing for {model}",
    "pool.disable": "Turned off load balancing for {model}",
    "pool.stopped": "Load balancing for {model} stopped",
    "pool.entry_add": "Added {entry} to the {model} pool",
    "pool.entry_enable": "Put {entry} back in the {model} pool",
    "pool.entry_disable": "Took {entry} out of the {model} pool",
    "pool.entry_move": "Moved {entry} in the {model} pool",
    "pool.entry_remove": "Removed {entry} from the {model} pool",
    "provider.preference": "Changed which credentials {what} uses",
    "workspace.create": "Created workspace {what}",
    "workspace.rename": "Renamed the workspace to {what}",
    "workspace.plan": "Changed the plan of {what}",
    "workspace.transfer": "Transferred ownership: {what}",
}

_TYPE_IN_PARENS = re.compile(r"\(([\w-]+)\)")


def type_words(text: str) -> str:
    """`openai/gpt-4o (llm)` → `openai/gpt-4o (LLM)`: a type key in brackets becomes its label."""
    return _TYPE_IN_PARENS.sub(
        lambda m: f"({TYPE_WORDS[m.group(1)]})" if m.group(1) in TYPE_WORDS else m.group(0), text
    )


def error_words(code: str) -> str:
    return ERROR_WORDS.get(code) or code.replace("_", " ").capitalize()


def audit_sentence(*, action: str, object_repr: str, details: dict | None) -> str:
    """What happened, as a sentence a reader understands."""
    details = details or {}
    what = type_words(object_repr)
    # A pool's row names "provider/model": the sentence names the model.
    model = what.split("/", 1)[-1].split(" (", 1)[0] or what
    entry = str(details.get("entry") or details.get("credential") or "an entry")
    pattern = SENTENCES.get(action)
    if pattern is None:
        words = action.replace(".", " ").replace("_", " ").capitalize()
        return f"{words}: {what}" if what else words
    renamed = details.get("name")
    old_name = renamed[0] if isinstance(renamed, list) and renamed else "an environment"
    environment = str(details.get("environment") or "An environment")
    return pattern.format(
        what=what, model=model, entry=entry, old_name=old_name, environment=environment
    )


def audit_reason(*, details: dict | None) -> str:
    """Why a row failed or happened, in words ("Authentication failed"), or ""."""
    details = details or {}
    if details.get("error"):
        return error_words(str(details["error"]))
    if details.get("reason"):
        return str(details["reason"]).capitalize()
    return ""
