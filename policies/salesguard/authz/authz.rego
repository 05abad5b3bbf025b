# METADATA
# title: salesguard authorization
# description: |
#   Tiered access for the salesguard services. One decision per request and
#   resource type: the service keeps rows inside the union of the grants'
#   scopes and masks each row with the narrowest grant that covers it.
#   Tiers, field sets and thresholds are data (data.salesguard.tiers); the
#   rules below only interpret them. Written for both OPA and rego-cpp
#   (regopy): no `some k, v in` inside set/array comprehensions (rego-cpp
#   rejects it), no sort/max/min over numbers (rego-cpp orders them as text),
#   no `not f(x.y)` with a possibly undefined x.y (the two disagree), and
#   every output array built in a fixed order (set iteration order differs).
package salesguard.authz

_tiers := data.salesguard.tiers

# METADATA
# title: decision
# description: |
#   The decision contract: allow, grants (narrowest first), max_rows,
#   requires_approval and reasons. Defined for every input.
# entrypoint: true
decision := {
	"allow": allow,
	"grants": _grants,
	"max_rows": _max_rows,
	"requires_approval": _requires_approval,
	"reasons": _reasons,
}

# METADATA
# title: allow
# description: |
#   True when at least one of the subject's roles permits the action on the
#   resource (or, for a listing, holds a grant) and no action-wide check fails.
default allow := false

allow if {
	count(_permitting_roles) > 0
	count(_action_refusals) == 0
}

# METADATA
# title: thresholds
# description: Detector thresholds, served from data so services need no redeploy.
thresholds := _tiers.thresholds

# ---------------------------------------------------------------- input

default _resource := null

_resource := input.resource

_action_cfg := _tiers.actions[input.action]

_known_action if _tiers.actions[input.action]

_present(value) if {
	is_string(value)
	value != ""
}

_roles contains role if {
	some role in input.subject.roles
	is_string(role)
}

# Tier entries of the action for the subject's roles.
_role_cfg[role] := cfg if {
	some role in _roles
	cfg := _action_cfg.roles[role]
}

# ---------------------------------------------------------------- scopes

# Scopes the subject can hold at all: a team/branch scope needs a team/branch.
_available_scopes["own"] := {"kind": "own", "employee_id": input.subject.id} if _present(input.subject.id)

_available_scopes["team"] := {"kind": "team", "team_id": input.subject.team} if _present(input.subject.team)

_available_scopes["branch"] := {"kind": "branch", "branch_id": input.subject.branch} if _present(input.subject.branch)

_available_scopes["all"] := {"kind": "all"}

_scope_rank[kind] := rank if {
	some rank, kind in _tiers.scope_order
}

# Headquarters: the listed roles get a wider scope (branch -> all).
_effective_kind(role, kind) := wider if {
	input.subject.hq == true
	role in _tiers.headquarters.roles
	wider := _tiers.headquarters.widen[kind]
} else := kind

# Grants per role, as {kind, masked_fields, values}; roles without any grant are
# left out. `values` lists what the grant allows under the action's value_check.
_role_grants[role] := grants if {
	some role, cfg in _role_cfg
	grants := {{"kind": kind, "masked_fields": sort(g.masked_fields), "values": object.get(g, "values", [])} |
		some g in cfg.grants
		kind := _effective_kind(role, g.scope)
		_available_scopes[kind]
	}
	count(grants) > 0
}

# Resource keys that must equal the subject's value for a scope kind.
_resource_keys(kind) := object.get(
	object.get(_action_cfg, "resource_keys", {}),
	kind,
	object.get(_tiers.resource_keys, kind, []),
)

_scope_value(scope) := value if {
	some key, value in scope
	key != "kind"
}

# Whether the concrete resource falls inside a scope of this kind.
_covers(kind) if kind == "all"

_covers(kind) if {
	kind != "all"
	value := _scope_value(_available_scopes[kind])
	keys := _resource_keys(kind)
	count(keys) > 0
	every key in keys {
		_resource[key] == value
	}
}

_role_covers(grants) if {
	some g in grants
	_covers(g.kind)
}

# A grant of the role covers the resource and every check of the role and grant passes.
_role_passes(role, grants) if {
	some g in grants
	_covers(g.kind)
	count(_role_checks(role, g)) == 0
}

# ---------------------------------------------------------------- checks

_read_only_rules(role) := object.get(_role_cfg[role], "read_only_fields", [])

# Reasons a role may not change the fields named in resource.fields.
_field_refusals(role) := {rule.reason |
	some rule in _read_only_rules(role)
	some field in _resource.fields
	field in _tiers.field_sets[rule.field_set]
} | _fields_missing(role)

# A helper rule, not `not is_array(_resource.fields)`: OPA and rego-cpp
# disagree on negated calls whose argument is undefined.
_fields_listed if is_array(_resource.fields)

_fields_missing(role) := {"FIELDS_REQUIRED"} if {
	count(_read_only_rules(role)) > 0
	not _fields_listed
} else := set()

# value_check: resource[resource_key] must be one of the covering grant's
# `values` (e.g. the status an order may be moved to).
_value_refusals(g) := {_action_cfg.value_check.reason} if {
	_action_cfg.value_check
	not _value_allowed(g)
} else := set()

_value_allowed(g) if {
	_resource[_action_cfg.value_check.resource_key] in g.values
}

# step_roles: the role must be listed for the step named by
# resource[resource_key] (with `hq: true`, only when the subject's hq is true).
_step := _resource[_action_cfg.step_roles.resource_key]

_step_known if _action_cfg.step_roles.steps[_step]

_step_refusals(role) := {_action_cfg.step_roles.reason} if {
	_step_known
	not _holds_step(role)
} else := set()

_holds_step(role) if {
	some holder in _action_cfg.step_roles.steps[_step]
	holder.role == role
	object.get(holder, "hq", false) == false
}

_holds_step(role) if {
	some holder in _action_cfg.step_roles.steps[_step]
	holder.role == role
	holder.hq == true
	input.subject.hq == true
}

_role_checks(role, g) := (_field_refusals(role) | _step_refusals(role)) | _value_refusals(g)

# Checks that apply to the action whatever the role.
_action_refusals contains "RESOURCE_REQUIRED" if {
	_action_cfg.resource_required == true
	_resource == null
}

_action_refusals contains rule.reason if {
	some rule in object.get(_action_cfg, "forbid_self", [])
	_present(input.subject.id)
	_resource[rule.resource_key] == input.subject.id
}

_action_refusals contains cfg.unknown_reason if {
	cfg := _action_cfg.step_roles
	_resource != null
	not _step_known
}

_permitting_roles contains role if {
	_resource == null
	_role_grants[role]
}

_permitting_roles contains role if {
	_resource != null
	some role, grants in _role_grants
	_role_passes(role, grants)
}

_role_refusals contains "OUT_OF_SCOPE" if {
	_resource != null
	some grants in _role_grants
	not _role_covers(grants)
}

_role_refusals contains reason if {
	_resource != null
	some role, grants in _role_grants
	not _role_passes(role, grants)
	some g in grants
	_covers(g.kind)
	some reason in _role_checks(role, g)
}

# ---------------------------------------------------------------- result

# Masks per granted kind: a field stays masked only if every permitting role
# that grants this kind masks it.
_granted_kinds contains g.kind if {
	some role in _permitting_roles
	some g in _role_grants[role]
}

_kind_masks[kind] := masks if {
	some kind in _granted_kinds
	masks := intersection({{field | some field in g.masked_fields} |
		some role in _permitting_roles
		some g in _role_grants[role]
		g.kind == kind
	})
}

# A grant is redundant when a wider granted scope masks no more than it does.
_redundant(kind) if {
	some wider, wider_masks in _kind_masks
	_scope_rank[wider] > _scope_rank[kind]
	count(wider_masks - _kind_masks[kind]) == 0
}

default _grants := []

_grants := [{"scope": _available_scopes[kind], "masked_fields": sort([field | some field in _kind_masks[kind]])} |
	some kind in _tiers.scope_order
	kind in _granted_kinds
	not _redundant(kind)
] if {
	allow
}

_role_max_rows(role) := object.get(_action_cfg, ["max_rows", role], object.get(_tiers.max_rows, role, 0))

default _max_rows := 0

_max_rows := cap if {
	allow
	caps := {_role_max_rows(role) | some role in _permitting_roles}
	some cap in caps
	every other in caps {
		other <= cap
	}
}

default _requires_approval := false

_requires_approval if {
	allow
	_action_cfg.requires_approval == true
}

_reasons := [] if {
	allow
} else := ["UNKNOWN_ACTION"] if {
	not _known_action
} else := ["ROLE_NOT_PERMITTED"] if {
	count(_role_cfg) == 0
} else := sort([reason | some reason in _refusals])

_refusals := (_action_refusals | _role_refusals) | _no_scope

# The roles are permitted, but none of their scopes exists (no team/branch).
_no_scope := {"NO_SCOPE"} if {
	count(_role_grants) == 0
} else := set()
