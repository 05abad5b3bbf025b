"""The policy client: one decision per request and resource type, from OPA or regopy.

Both backends evaluate the same Rego files (``policies/``), query
``data.salesguard.authz.decision`` and return the same decision shape. A
service turns the decision's scopes into one SQL filter (:func:`scope_filter`)
and masks each row with the narrowest grant that covers it
(:meth:`Decision.masks_for`). If the engine cannot answer, the request fails
closed with :class:`~salesguard.errors.PolicyUnavailable`.

Grants of the actions that read the case about an employee (alerts, risk,
timelines) also limit rows inside their scope: the alert ``kinds`` they cover,
the employees whose case they leave out (``excluded_subjects``: the caller's
own) and the roles whose holders' cases they leave to superiors
(``hidden_subject_roles``, resolved to employee IDs by the client before the
decision is handed out). :func:`scope_filter` applies them to a table's subject
and kind columns.
"""

from __future__ import annotations

from salesguard.policy.client import PolicyClient, SubjectRoles, policy_client_from_settings
from salesguard.policy.decision import (
    CASE_FOR_SUPERIORS,
    DENY,
    OWN_CASE,
    Decision,
    Grant,
    Scope,
    ScopeKind,
)
from salesguard.policy.engines import (
    DECISION_PATH,
    THRESHOLDS_PATH,
    EmbeddedPolicyEngine,
    OpaServerPolicyEngine,
    PolicyEngine,
)
from salesguard.policy.filters import ScopeColumns, scope_filter

__all__ = [
    "CASE_FOR_SUPERIORS",
    "DECISION_PATH",
    "DENY",
    "OWN_CASE",
    "THRESHOLDS_PATH",
    "Decision",
    "EmbeddedPolicyEngine",
    "Grant",
    "OpaServerPolicyEngine",
    "PolicyClient",
    "PolicyEngine",
    "Scope",
    "ScopeColumns",
    "ScopeKind",
    "SubjectRoles",
    "policy_client_from_settings",
    "scope_filter",
]
