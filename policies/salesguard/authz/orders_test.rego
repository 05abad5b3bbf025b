package salesguard.authz_test

import data.salesguard.tiers

# Orders, payments and shipments: approval steps, transitions and their scopes.
# Fixtures are in authz_test.rego, the table of single-resource cases in
# order_cases_test.rego.

# ---------------------------------------------------------------- orders, payments, shipments

_all_roles := ["SALES_JUNIOR", "SALES_SENIOR", "MANAGER", "HR", "FINANCE", "ADMIN", "SYSTEM"]

_step_roles := ["MANAGER", "FINANCE", "HQ_MANAGER"]

_refused(reasons) := {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": reasons}

# Refusals first: self-approval, steps the approver does not hold, moves a role may not make.
test_nobody_decides_own_order[note] if {
	some name, subject in _subjects
	some hq in [false, true]
	some step_role in _step_roles
	note := sprintf("%s (hq %v) at step %s", [name, hq, step_role])
	order := _step({"submitted_by": subject.id, "team_id": subject.team, "branch_id": subject.branch}, step_role)
	d := _decide(object.union(subject, {"roles": _all_roles, "hq": hq}), "orders.decide", order)
	d.allow == false
	d.grants == []
	"SELF_APPROVAL" in d.reasons
}

test_manager_of_another_branch_cannot_decide_a_manager_step[note] if {
	some note, tc in {
		"manager of b-1": {"subject": _manager, "reasons": ["OUT_OF_SCOPE"]},
		"manager without a branch": {"subject": object.union(_manager, {"branch": null}), "reasons": ["NO_SCOPE"]},
		"manager of b-1 who is also a rep": {
			"subject": object.union(_senior, {"roles": ["SALES_SENIOR", "MANAGER"]}),
			"reasons": ["OUT_OF_SCOPE"],
		},
	}
	_decide(tc.subject, "orders.decide", _step(_order_other_branch, "MANAGER")) == _refused(tc.reasons)
}

test_non_hq_manager_cannot_decide_an_hq_step[note] if {
	some note, tc in {
		"order of the own branch": {"order": _order_teammate, "reasons": ["STEP_ROLE_NOT_HELD"]},
		"order of another branch": {"order": _order_other_branch, "reasons": ["OUT_OF_SCOPE"]},
	}
	_decide(_manager, "orders.decide", _step(tc.order, "HQ_MANAGER")) == _refused(tc.reasons)
}

test_finance_cannot_decide_a_manager_step[note] if {
	some step_role in ["MANAGER", "HQ_MANAGER"]
	some order in [_order_teammate, _order_other_branch]
	note := sprintf("%s step in %s", [step_role, order.branch_id])
	_decide(_subjects.finance, "orders.decide", _step(order, step_role)) == _refused(["STEP_ROLE_NOT_HELD"])
}

test_reps_cannot_move_an_order_past_cancelled[note] if {
	some name in ["junior", "senior"]
	some to in ["FULFILLED", "CLOSED", "APPROVED", "REJECTED", "SUBMITTED"]
	note := sprintf("%s to %s", [name, to])
	subject := object.union(_subjects[name], {"hq": true})
	order := {"submitted_by": subject.id, "team_id": subject.team, "branch_id": subject.branch}
	d := _decide(subject, "orders.transition", _move(order, to))
	d == {
		"allow": false, "grants": [], "max_rows": 0, "requires_approval": false,
		"reasons": ["TRANSITION_NOT_PERMITTED"],
	}
}

# Reps see the orders and shipments they submitted, never the team's or the branch's.
_order_resources := [
	null, _order_junior, _order_senior, _order_teammate, _order_other_team, _order_other_branch,
	{"owner_id": "e-j", "team_id": "t-1", "branch_id": "b-1"},
	{"owner_id": "e-s", "team_id": "t-1", "branch_id": "b-1"},
]

test_reps_read_only_orders_they_submitted[note] if {
	some action in ["orders.read", "shipments.read"]
	some name in ["junior", "senior"]
	some i, resource in _order_resources
	note := sprintf("%s by %s on resource %d", [action, name, i])
	subject := object.union(_subjects[name], {"hq": true})
	_own_only(_decide(subject, action, resource), subject, _record_holder(resource, "submitted_by", subject))
}

test_only_system_streams_valid_orders[role] if {
	some role, _ in tiers.max_rows
	d := _decide(object.union(_hq_manager, {"roles": [role]}), "orders.stream_valid", null)
	is_system := role == "SYSTEM"
	d.allow == is_system
}

test_all_other_roles_together_stream_no_orders if {
	roles := [role | some role in _all_roles; role != "SYSTEM"]
	d := _decide(object.union(_hq_manager, {"roles": roles}), "orders.stream_valid", null)
	d == {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": ["ROLE_NOT_PERMITTED"]}
}

_finance := _subjects.finance

_manager_finance := object.union(_manager, {"roles": ["MANAGER", "FINANCE"]})

test_order_resource[note] if {
	some note, tc in _order_cases
	d := _decide(tc.subject, tc.action, tc.resource)
	_matches(d, tc)
}

test_customer_facts_hide_names_and_contact if {
	d := _decide(_subjects.system, "customers.facts", null)
	d.grants == [{"scope": {"kind": "all"}, "masked_fields": _lookup_masks}]
}

test_contact_facts_mask_nothing if {
	d := _decide(_subjects.system, "visits.contact_facts", null)
	d.grants == [{"scope": {"kind": "all"}, "masked_fields": []}]
}
