package salesguard.authz_test

import data.salesguard.authz
import data.salesguard.tiers

# The decision contract's details, tiers as data, and the sanity of the tier data.
# Fixtures are in authz_test.rego.

# ---------------------------------------------------------------- contract details

test_export_run_requires_approval if {
	d := _decide(_manager, "customers.export.run", {"requester_id": "e-m"})
	d == {
		"allow": true,
		"grants": [{"scope": {"kind": "own", "employee_id": "e-m"}, "masked_fields": []}],
		"max_rows": 1000,
		"requires_approval": true,
		"reasons": [],
	}
}

test_senior_teammate_grant_is_masked if {
	d := _decide(_senior, "customers.read", _cust_teammate)
	d.grants == [
		{"scope": {"kind": "own", "employee_id": "e-s"}, "masked_fields": []},
		{"scope": {"kind": "team", "team_id": "t-1"}, "masked_fields": _contact},
	]
}

_customer_actions contains action if {
	some action, _ in tiers.actions
	startswith(action, "customers.")
}

test_junior_never_gets_team_or_branch_scope[action] if {
	some action in _customer_actions
	some resource in [null, _cust_junior, _cust_teammate, _cust_other_team]
	d := _decide(_junior, action, resource)
	every g in d.grants {
		g.scope.kind == "own"
	}
}

# Check-ins, call logs and visit plans are a rep's own, never the team's.
_own_only_reads := {"visits.read", "checkins.read", "calllogs.read", "commissions.read"}

_emp_resources := [null, _emp_junior, _emp_senior, _emp_teammate, _emp_other_team, _emp_other_branch]

test_reps_read_only_their_own_field_records[note] if {
	some action in _own_only_reads
	some name in ["junior", "senior"]
	some i, resource in _emp_resources
	note := sprintf("%s by %s on resource %d", [action, name, i])
	subject := object.union(_subjects[name], {"hq": true})
	_own_only(_decide(subject, action, resource), subject, _record_holder(resource, "employee_id", subject))
}

# Whose record it is: the subject's own for a listing, else resource[key] (null when absent).
_record_holder(resource, key, subject) := subject.id if {
	resource == null
} else := object.get(resource, key, null)

# A listing or the rep's own record: one unmasked own grant. Anyone else's: refused.
_own_only(d, subject, holder) if {
	holder == subject.id
	d.grants == [{"scope": {"kind": "own", "employee_id": subject.id}, "masked_fields": []}]
}

_own_only(d, subject, holder) if {
	holder != subject.id
	d == {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": ["OUT_OF_SCOPE"]}
}

test_nobody_checks_in_for_someone_else[note] if {
	some name, subject in _subjects
	some hq in [false, true]
	some i, resource in [_emp_teammate, _emp_other_team, _emp_other_branch]
	note := sprintf("%s (hq %v) for resource %d", [name, hq, i])
	d := _decide(object.union(subject, {"roles": _all_roles, "hq": hq}), "checkins.create", resource)
	d.allow == false
	d.reasons == ["OUT_OF_SCOPE"]
}

test_finance_and_admin_read_no_checkins[note] if {
	some roles in [["FINANCE"], ["ADMIN"], ["FINANCE", "ADMIN"]]
	some i, resource in _emp_resources
	note := sprintf("%v on resource %d", [roles, i])
	d := _decide(object.union(_subjects.finance, {"roles": roles}), "checkins.read", resource)
	d == {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": ["ROLE_NOT_PERMITTED"]}
}

test_only_system_matches_phones[role] if {
	some role, _ in tiers.max_rows
	d := _decide(object.union(_hr, {"roles": [role]}), "customers.match_phones", null)
	is_system := role == "SYSTEM"
	d.allow == is_system
}

test_all_other_roles_together_match_no_phones if {
	roles := [role | some role in _all_roles; role != "SYSTEM"]
	d := _decide(object.union(_hq_manager, {"roles": roles}), "customers.match_phones", null)
	d.reasons == ["ROLE_NOT_PERMITTED"]
}

test_nobody_decides_own_export_request[name] if {
	some name, subject in _subjects
	d := _decide(
		object.union(
			subject,
			{"roles": ["SALES_JUNIOR", "SALES_SENIOR", "MANAGER", "HR", "FINANCE", "ADMIN", "SYSTEM"]},
		),
		"customers.export.decide",
		{"requester_id": subject.id, "branch_id": subject.branch},
	)
	d.allow == false
	"SELF_APPROVAL" in d.reasons
}

test_grants_are_ordered_narrowest_first if {
	subject := object.union(_senior, {"roles": ["SALES_SENIOR", "FINANCE"], "hq": true})
	d := _decide(subject, "customers.read", null)
	[g.scope.kind | some g in d.grants] == ["own", "all"]
}

_odd_inputs := {
	"unknown action": {"subject": _junior, "action": "customers.delete", "resource": null},
	"unknown role": {
		"subject": object.union(_junior, {"roles": ["SALES_INTERN"]}),
		"action": "customers.read",
		"resource": null,
	},
	"no roles": {"subject": object.union(_junior, {"roles": []}), "action": "customers.read", "resource": null},
	"roles not a list": {
		"subject": object.union(_junior, {"roles": "MANAGER"}),
		"action": "customers.read",
		"resource": null,
	},
	"role names are case sensitive": {
		"subject": object.union(_junior, {"roles": ["manager"]}),
		"action": "customers.read",
		"resource": null,
	},
	"no subject": {"action": "customers.read", "resource": null},
	"no action": {"subject": _hr, "resource": null},
	"empty input": {},
}

_odd_reasons := {
	"unknown action": ["UNKNOWN_ACTION"],
	"unknown role": ["ROLE_NOT_PERMITTED"],
	"no roles": ["ROLE_NOT_PERMITTED"],
	"roles not a list": ["ROLE_NOT_PERMITTED"],
	"role names are case sensitive": ["ROLE_NOT_PERMITTED"],
	"no subject": ["ROLE_NOT_PERMITTED"],
	"no action": ["UNKNOWN_ACTION"],
	"empty input": ["UNKNOWN_ACTION"],
}

test_refused_odd_input[note] if {
	some note, in_ in _odd_inputs
	d := authz.decision with input as in_
	d == {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": _odd_reasons[note]}
}

test_decision_without_input if {
	authz.decision.allow == false
}

# ---------------------------------------------------------------- tiers are data

test_headquarters_behaviour_is_data if {
	d := _decide(_hq_manager, "customers.read", null) with tiers.headquarters.roles as []
	d.grants == [{"scope": {"kind": "branch", "branch_id": "b-hq"}, "masked_fields": []}]
}

test_max_rows_per_role_is_data if {
	d := _decide(_junior, "customers.read", null) with tiers.max_rows.SALES_JUNIOR as 50
	d.max_rows == 50
}

test_max_rows_per_action_override if {
	d := _decide(_junior, "customers.read", null) with tiers.actions["customers.read"].max_rows as {"SALES_JUNIOR": 20}
	d.max_rows == 20
}

test_max_rows_is_the_largest_over_roles if {
	d := _decide(object.union(_senior, {"roles": ["SALES_SENIOR", "FINANCE"]}), "customers.read", null)
	d.max_rows == 1000
}

test_tier_change_masks_junior_contact if {
	tier := {"grants": [{"scope": "own", "masked_fields": ["phone"]}]}
	d := _decide(_junior, "customers.read", null) with tiers.actions["customers.read"].roles.SALES_JUNIOR as tier
	d.grants == [{"scope": {"kind": "own", "employee_id": "e-j"}, "masked_fields": ["phone"]}]
}

# A grant's masks are its masked_fields plus the fields of its masked_field_sets;
# a grant naming an unknown set, or without masked_fields, is dropped (refused
# rather than shown unmasked).
_junior_read_tier(grant) := {"grants": [grant]}

test_masked_field_sets_resolve_to_their_fields if {
	tier := _junior_read_tier({"scope": "own", "masked_fields": ["name"], "masked_field_sets": ["contact"]})
	d := _decide(_junior, "customers.read", null) with tiers.actions["customers.read"].roles.SALES_JUNIOR as tier
	d.grants == [{
		"scope": {"kind": "own", "employee_id": "e-j"},
		"masked_fields": ["address", "email", "name", "phone"],
	}]
}

test_a_grant_naming_an_unknown_field_set_is_dropped if {
	tier := _junior_read_tier({"scope": "own", "masked_fields": [], "masked_field_sets": ["contacts"]})
	d := _decide(_junior, "customers.read", null) with tiers.actions["customers.read"].roles.SALES_JUNIOR as tier
	d.allow == false
	d.reasons == ["NO_SCOPE"]
}

test_a_grant_without_masked_fields_is_dropped if {
	tier := _junior_read_tier({"scope": "own", "masked_field": ["phone"]})
	d := _decide(_junior, "customers.read", null) with tiers.actions["customers.read"].roles.SALES_JUNIOR as tier
	d.allow == false
}

test_contact_masks_come_from_the_contact_field_set if {
	d := _decide(_subjects.hr, "customers.read", null)
	d.grants == [{"scope": {"kind": "all"}, "masked_fields": _contact}]
	sort(tiers.field_sets.contact) == _contact
}

test_step_roles_are_data[note] if {
	some note, tc in {
		"finance takes the hq step": {
			"steps": {"HQ_MANAGER": [{"role": "FINANCE"}]},
			"subject": _subjects.finance, "allow": true,
		},
		"only an hq manager takes the manager step": {
			"steps": {"MANAGER": [{"role": "MANAGER", "hq": true}]},
			"subject": _manager, "allow": false,
		},
	}
	some step_role, _ in tc.steps
	order := _step(_order_teammate, step_role)
	d := _decide(tc.subject, "orders.decide", order) with tiers.actions["orders.decide"].step_roles.steps as tc.steps
	d.allow == tc.allow
}

test_transition_targets_are_data if {
	tier := {"grants": [{"scope": "own", "masked_fields": [], "values": ["CANCELLED", "CLOSED"]}]}
	order := _move(_order_junior, "CLOSED")
	d := _decide(_junior, "orders.transition", order) with tiers.actions["orders.transition"].roles.SALES_JUNIOR as tier
	d.allow == true
}

test_a_grant_without_values_moves_nothing if {
	tier := {"grants": [{"scope": "own", "masked_fields": []}]}
	order := _move(_order_junior, "CANCELLED")
	d := _decide(_junior, "orders.transition", order) with tiers.actions["orders.transition"].roles.SALES_JUNIOR as tier
	d.reasons == ["TRANSITION_NOT_PERMITTED"]
}

# ---------------------------------------------------------------- data sanity

test_every_role_has_max_rows[role] if {
	some action in tiers.actions
	some role, _ in action.roles
	tiers.max_rows[role] > 0
}

test_every_grant_scope_is_ordered[note] if {
	some name, action in tiers.actions
	some role, cfg in action.roles
	some g in cfg.grants
	note := sprintf("%s %s %s", [name, role, g.scope])
	g.scope in tiers.scope_order
	is_array(g.masked_fields)
}

test_read_only_field_sets_exist[note] if {
	some name, action in tiers.actions
	some role, cfg in action.roles
	some rule in object.get(cfg, "read_only_fields", [])
	note := sprintf("%s %s", [name, role])
	count(tiers.field_sets[rule.field_set]) > 0
	rule.reason != ""
}

test_core_fields if {
	{f | some f in tiers.field_sets.core_customer} == {
		"name",
		"company",
		"phone",
		"email",
		"source",
		"source_detail",
		"first_contact_at",
	}
}

test_step_holders_have_a_tier[note] if {
	some name, action in tiers.actions
	some step_role, holders in object.get(action, ["step_roles", "steps"], {})
	some holder in holders
	note := sprintf("%s %s %s", [name, step_role, holder.role])
	count(action.roles[holder.role].grants) > 0
}

# `values` means something only under a value_check, and there every grant needs them.
test_grant_values_match_value_checks[note] if {
	some name, action in tiers.actions
	some role, cfg in action.roles
	some i, g in cfg.grants
	note := sprintf("%s %s %d", [name, role, i])
	has_check := object.get(action, "value_check", null) != null
	has_values := count(object.get(g, "values", [])) > 0
	has_check == has_values
}

# customers.export.decide with no resource: the queue's scope (the service shows a manager
# the requests of these scopes, and the caller's own as their requester).
test_export_decide_listing_scopes if {
	branch := {"scope": {"kind": "branch", "branch_id": "b-1"}, "masked_fields": []}
	_decide(_manager, "customers.export.decide", null).grants == [branch]
	_decide(_hq_manager, "customers.export.decide", null).grants == [{"scope": {"kind": "all"}, "masked_fields": []}]
}
