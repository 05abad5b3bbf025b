# METADATA
# title: salesguard authorization
# description: |
#   Tiered access for the salesguard services. One decision per request and
#   resource type: the service keeps rows inside the union of the grants'
#   scopes and masks each row with the narrowest grant that covers it.
#   Tiers and field sets are data (data.salesguard.tiers); the rules below
#   only interpret them. Written for both OPA and rego-cpp
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
# scope: document
default allow := false

allow if {
	count(_permitting_roles) > 0
	count(_action_refusals) == 0
}

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

# Grants per role, as {kind, masked_fields, values, alert_kinds, hidden_roles};
# roles without any grant are left out. `values` lists what the grant allows
# under the action's value_check.
_role_grants[role] := grants if {
	some role, cfg in _role_cfg
	grants := {_role_grant(g, kind) |
		some g in cfg.grants
		kind := _effective_kind(role, g.scope)
		_available_scopes[kind]
	}
	count(grants) > 0
}

_role_grant(g, kind) := {
	"kind": kind,
	"masked_fields": _grant_masked_fields(g),
	"values": object.get(g, "values", []),
	"alert_kinds": _grant_alert_kinds(g),
	"hidden_roles": _grant_hidden_roles(g, kind),
}

# The fields a grant masks: its `masked_fields` and the fields of its
# `masked_field_sets` (names in `field_sets`). Undefined, so the grant is
# dropped, when `masked_fields` is missing or a set is unknown: a typo
# refuses access rather than showing what it meant to mask.
_grant_masked_fields(g) := sort([field | some field in fields]) if {
	is_array(g.masked_fields)
	set_names := object.get(g, "masked_field_sets", [])
	every name in set_names {
		is_array(_tiers.field_sets[name])
	}
	fields := {field | some field in g.masked_fields} | {field |
		some name in set_names
		some field in _tiers.field_sets[name]
	}
}

# `kinds` on a grant: the only alert kinds it covers (null: every kind).
_grant_alert_kinds(g) := sort(g.kinds) if {
	is_array(g.kinds)
} else := null

# `hidden_subject_roles` on a grant: rows about an employee holding one of these
# roles are outside it (a manager's case is for HR and headquarters). A grant
# widened by `headquarters` reads them: the headquarters manager is the superior.
_grant_hidden_roles(g, kind) := [] if {
	kind != g.scope
} else := sort(object.get(g, "hidden_subject_roles", []))

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
_covers("all")

_covers(kind) if {
	kind != "all"
	value := _scope_value(_available_scopes[kind])
	keys := _resource_keys(kind)
	count(keys) > 0
	every key in keys {
		_resource[key] == value
	}
}

# A grant covers the resource: its scope does, and its alert kinds (if it lists any)
# name the resource's `kind`.
_grant_covers(g) if {
	_covers(g.kind)
	_alert_kind_covered(g)
}

_alert_kind_covered(g) if g.alert_kinds == null

_alert_kind_covered(g) if {
	g.alert_kinds != null
	_resource.kind in g.alert_kinds
}

_role_covers(grants) if {
	some g in grants
	_grant_covers(g)
}

# A grant of the role covers the resource and every check of the role and grant passes.
_role_passes(role, grants) if {
	some g in grants
	_grant_covers(g)
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
	input.subject.hq == true
	some holder in _action_cfg.step_roles.steps[_step]
	holder.role == role
	holder.hq == true
}

_role_checks(role, g) := (_field_refusals(role) | _step_refusals(role)) | _value_refusals(g)

# Checks that apply to the action whatever the role.
_action_refusals contains "RESOURCE_REQUIRED" if {
	_action_cfg.resource_required == true
	_resource == null
}

_action_refusals contains rule.reason if {
	_present(input.subject.id)
	some rule in object.get(_action_cfg, "forbid_self", [])
	_resource[rule.resource_key] == input.subject.id
}

# own_case: the action reads the case about an employee; nobody reads their own.
_action_refusals contains cfg.reason if {
	cfg := _action_cfg.own_case
	_present(input.subject.id)
	_resource[cfg.resource_key] == input.subject.id
}

_action_refusals contains cfg.unknown_reason if {
	cfg := _action_cfg.step_roles
	_resource != null
	not _step_known
}

_permitting_roles contains role if {
	_resource == null
	some role, _ in _role_grants
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
	_grant_covers(g)
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

# Alert kinds per granted kind: every kind (null) when some permitting role's
# grant of this kind lists none, else the union of the lists.
_kind_alert_kinds[kind] := _union_or_every([g.alert_kinds |
	some role in _permitting_roles
	some g in _role_grants[role]
	g.kind == kind
]) if {
	some kind in _granted_kinds
}

_union_or_every(lists) := null if {
	null in lists
} else := sort([alert_kind | some alert_kind in {alert_kind |
	some list in lists
	some alert_kind in list
}])

# Hidden subject roles per granted kind: a role stays hidden only if every
# permitting role that grants this kind hides it.
_kind_hidden_roles[kind] := hidden if {
	some kind in _granted_kinds
	hidden := intersection({{hidden_role | some hidden_role in g.hidden_roles} |
		some role in _permitting_roles
		some g in _role_grants[role]
		g.kind == kind
	})
}

# A grant is redundant when a wider granted scope masks no more than it does,
# covers every alert kind it does and hides no subject it shows.
_redundant(kind) if {
	some wider, wider_masks in _kind_masks
	_scope_rank[wider] > _scope_rank[kind]
	count(wider_masks - _kind_masks[kind]) == 0
	_alert_kinds_include(wider, kind)
	count(_kind_hidden_roles[wider] - _kind_hidden_roles[kind]) == 0
}

_alert_kinds_include(wider, _) if _kind_alert_kinds[wider] == null

_alert_kinds_include(wider, kind) if {
	wider_kinds := _kind_alert_kinds[wider]
	narrower_kinds := _kind_alert_kinds[kind]
	wider_kinds != null
	narrower_kinds != null
	every alert_kind in narrower_kinds {
		alert_kind in wider_kinds
	}
}

default _grants := []

_grants := [object.union(
	{"scope": _available_scopes[kind], "masked_fields": sort([field | some field in _kind_masks[kind]])},
	_grant_row_limits(kind),
) |
	some kind in _tiers.scope_order
	kind in _granted_kinds
	not _redundant(kind)
] if {
	allow
}

# Which rows inside its scope a grant leaves out, for the actions that have such
# limits (keys present only when they limit): `kinds`, `hidden_subject_roles`,
# `excluded_subjects`.
_grant_row_limits(kind) := object.union(
	object.union(_kinds_limit(kind), _hidden_roles_limit(kind)),
	_excluded_subjects_limit,
)

_kinds_limit(kind) := {"kinds": alert_kinds} if {
	alert_kinds := _kind_alert_kinds[kind]
	alert_kinds != null
} else := {}

_hidden_roles_limit(kind) := {"hidden_subject_roles": sort([role | some role in _kind_hidden_roles[kind]])} if {
	count(_kind_hidden_roles[kind]) > 0
} else := {}

# own_case: a listing leaves out the rows about the subject themselves.
default _excluded_subjects_limit := {}

_excluded_subjects_limit := {"excluded_subjects": [input.subject.id]} if {
	_action_cfg.own_case
	_present(input.subject.id)
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
_no_scope contains "NO_SCOPE" if count(_role_grants) == 0
