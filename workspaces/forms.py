"""Forms of the workspace and member pages; rules live in services, forms only shape input."""

from __future__ import annotations

from django import forms

from .models import Membership, Role

ASSIGNABLE_ROLES = [(r.value, r.label) for r in Role if r != Role.OWNER]


class WorkspaceForm(forms.Form):
    name = forms.CharField(label="Workspace name", max_length=100)


class MemberAddForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)
    role = forms.ChoiceField(label="Role", choices=ASSIGNABLE_ROLES, initial=Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=ASSIGNABLE_ROLES)


class OwnershipTransferForm(forms.Form):
    new_owner = forms.ModelChoiceField(
        label="New owner", queryset=Membership.objects.none(), empty_label="Choose a member"
    )

    def __init__(self, *args, memberships, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_owner"].queryset = memberships
        self.fields["new_owner"].label_from_instance = lambda m: f"{m.user.email} ({m.role})"
