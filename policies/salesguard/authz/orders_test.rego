package salesguard.authz_test

# Orders, payments and shipments: approval steps, transitions and their scopes. Fixtures are in authz_test.rego.

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
	some role, _ in _tiers.max_rows
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

_order_cases := {
	# orders.submit
	"junior cannot submit for a teammate": {
		"subject": _junior,
		"action": "orders.submit",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"senior cannot submit for a teammate": {
		"subject": _senior,
		"action": "orders.submit",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager cannot submit for a rep of the branch": {
		"subject": _manager,
		"action": "orders.submit",
		"resource": _emp_junior,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"headquarters manager cannot submit for anyone": {
		"subject": _hq_manager,
		"action": "orders.submit",
		"resource": _emp_other_branch,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"a submission names the submitter as employee_id": {
		"subject": _junior,
		"action": "orders.submit",
		"resource": _order_junior,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"submitting needs the submitter": {
		"subject": _junior,
		"action": "orders.submit",
		"resource": null,
		"reasons": ["RESOURCE_REQUIRED"],
	},
	"hr cannot submit orders": {
		"subject": _hr,
		"action": "orders.submit",
		"resource": _emp_junior,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"finance cannot submit orders": {
		"subject": _finance,
		"action": "orders.submit",
		"resource": _emp_junior,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"junior submits own order": {"subject": _junior, "action": "orders.submit", "resource": _emp_junior, "allow": true},
	"manager submits own order": {
		"subject": _manager,
		"action": "orders.submit",
		"resource": _emp_manager,
		"allow": true,
	},
	# orders.read
	"junior cannot read a teammate's order": {
		"subject": _junior,
		"action": "orders.read",
		"resource": _order_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"senior cannot read a teammate's order": {
		"subject": _senior,
		"action": "orders.read",
		"resource": _order_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"a rep reads orders by submitter, not by customer owner": {
		"subject": _junior, "action": "orders.read", "resource": object.union(_order_teammate, {"owner_id": "e-j"}),
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager cannot read another branch's order": {
		"subject": _manager,
		"action": "orders.read",
		"resource": _order_other_branch,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"admin cannot read orders": {
		"subject": _subjects.admin,
		"action": "orders.read",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"system cannot read orders": {
		"subject": _subjects.system,
		"action": "orders.read",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"junior reads own order": {"subject": _junior, "action": "orders.read", "resource": _order_junior, "allow": true},
	"manager reads an order of the branch": {
		"subject": _manager,
		"action": "orders.read",
		"resource": _order_other_team,
		"allow": true,
	},
	"headquarters manager reads any order": {
		"subject": _hq_manager,
		"action": "orders.read",
		"resource": _order_other_branch,
		"allow": true,
	},
	"finance reads any order": {
		"subject": _finance,
		"action": "orders.read",
		"resource": _order_other_branch,
		"allow": true,
	},
	"hr reads any order": {"subject": _hr, "action": "orders.read", "resource": _order_other_branch, "allow": true},
	# orders.decide
	"manager cannot decide own order": {
		"subject": _manager, "action": "orders.decide", "resource": _step(_order_manager, "MANAGER"),
		"reasons": ["SELF_APPROVAL"],
	},
	"manager refused twice over": {
		"subject": _manager, "action": "orders.decide", "resource": _step(_order_manager, "HQ_MANAGER"),
		"reasons": ["SELF_APPROVAL", "STEP_ROLE_NOT_HELD"],
	},
	"headquarters manager cannot decide own order": {
		"subject": _hq_manager, "action": "orders.decide",
		"resource": _step({"submitted_by": "e-hq", "branch_id": "b-hq"}, "HQ_MANAGER"), "reasons": ["SELF_APPROVAL"],
	},
	"manager cannot decide a manager step of another branch": {
		"subject": _manager, "action": "orders.decide", "resource": _step(_order_other_branch, "MANAGER"),
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager cannot decide an hq step": {
		"subject": _manager, "action": "orders.decide", "resource": _step(_order_teammate, "HQ_MANAGER"),
		"reasons": ["STEP_ROLE_NOT_HELD"],
	},
	"manager cannot decide a finance step": {
		"subject": _manager, "action": "orders.decide", "resource": _step(_order_teammate, "FINANCE"),
		"reasons": ["STEP_ROLE_NOT_HELD"],
	},
	"headquarters manager cannot decide a finance step": {
		"subject": _hq_manager, "action": "orders.decide", "resource": _step(_order_other_branch, "FINANCE"),
		"reasons": ["STEP_ROLE_NOT_HELD"],
	},
	"finance cannot decide a manager step": {
		"subject": _finance, "action": "orders.decide", "resource": _step(_order_teammate, "MANAGER"),
		"reasons": ["STEP_ROLE_NOT_HELD"],
	},
	"manager and finance: the manager step of another branch stays out of scope": {
		"subject": _manager_finance, "action": "orders.decide", "resource": _step(_order_other_branch, "MANAGER"),
		"reasons": ["OUT_OF_SCOPE", "STEP_ROLE_NOT_HELD"],
	},
	"an unknown step role is refused": {
		"subject": _hq_manager, "action": "orders.decide", "resource": _step(_order_teammate, "DIRECTOR"),
		"reasons": ["UNKNOWN_STEP_ROLE"],
	},
	"step roles are case sensitive": {
		"subject": _manager, "action": "orders.decide", "resource": _step(_order_teammate, "manager"),
		"reasons": ["UNKNOWN_STEP_ROLE"],
	},
	"a decision names the step": {
		"subject": _finance,
		"action": "orders.decide",
		"resource": _order_teammate,
		"reasons": ["UNKNOWN_STEP_ROLE"],
	},
	"deciding needs the order": {
		"subject": _manager,
		"action": "orders.decide",
		"resource": null,
		"reasons": ["RESOURCE_REQUIRED"],
	},
	"senior cannot decide orders": {
		"subject": _senior, "action": "orders.decide", "resource": _step(_order_teammate, "MANAGER"),
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"hr cannot decide orders": {
		"subject": _hr, "action": "orders.decide", "resource": _step(_order_teammate, "MANAGER"),
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"admin cannot decide orders": {
		"subject": _subjects.admin, "action": "orders.decide", "resource": _step(_order_teammate, "MANAGER"),
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"manager decides a manager step of the branch": {
		"subject": _manager,
		"action": "orders.decide",
		"resource": _step(_order_teammate, "MANAGER"),
		"allow": true,
	},
	"headquarters manager decides a manager step of any branch": {
		"subject": _hq_manager, "action": "orders.decide", "resource": _step(_order_other_branch, "MANAGER"),
		"allow": true,
	},
	"headquarters manager decides an hq step": {
		"subject": _hq_manager, "action": "orders.decide", "resource": _step(_order_other_branch, "HQ_MANAGER"),
		"allow": true,
	},
	"finance decides a finance step of any branch": {
		"subject": _finance, "action": "orders.decide", "resource": _step(_order_other_branch, "FINANCE"),
		"allow": true,
	},
	"manager and finance decide a finance step of another branch": {
		"subject": _manager_finance, "action": "orders.decide", "resource": _step(_order_other_branch, "FINANCE"),
		"allow": true,
	},
	# orders.transition
	"junior cannot fulfil own order": {
		"subject": _junior, "action": "orders.transition", "resource": _move(_order_junior, "FULFILLED"),
		"reasons": ["TRANSITION_NOT_PERMITTED"],
	},
	"junior cannot cancel a teammate's order": {
		"subject": _junior, "action": "orders.transition", "resource": _move(_order_teammate, "CANCELLED"),
		"reasons": ["OUT_OF_SCOPE"],
	},
	"senior cannot cancel a teammate's order": {
		"subject": _senior, "action": "orders.transition", "resource": _move(_order_teammate, "CANCELLED"),
		"reasons": ["OUT_OF_SCOPE"],
	},
	"a move names the target status": {
		"subject": _junior, "action": "orders.transition", "resource": _order_junior,
		"reasons": ["TRANSITION_NOT_PERMITTED"],
	},
	"manager cannot approve through a transition": {
		"subject": _manager, "action": "orders.transition", "resource": _move(_order_teammate, "APPROVED"),
		"reasons": ["TRANSITION_NOT_PERMITTED"],
	},
	"manager cannot move another branch's order": {
		"subject": _manager, "action": "orders.transition", "resource": _move(_order_other_branch, "FULFILLED"),
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager cannot fulfil own order from a former branch": {
		"subject": _manager, "action": "orders.transition",
		"resource": _move({"submitted_by": "e-m", "branch_id": "b-9"}, "FULFILLED"),
		"reasons": ["TRANSITION_NOT_PERMITTED"],
	},
	"finance cannot fulfil an order": {
		"subject": _finance, "action": "orders.transition", "resource": _move(_order_teammate, "FULFILLED"),
		"reasons": ["TRANSITION_NOT_PERMITTED"],
	},
	"finance cannot cancel an order": {
		"subject": _finance, "action": "orders.transition", "resource": _move(_order_teammate, "CANCELLED"),
		"reasons": ["TRANSITION_NOT_PERMITTED"],
	},
	"moving needs the order": {
		"subject": _manager,
		"action": "orders.transition",
		"resource": null,
		"reasons": ["RESOURCE_REQUIRED"],
	},
	"hr cannot move orders": {
		"subject": _hr, "action": "orders.transition", "resource": _move(_order_teammate, "CANCELLED"),
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"system cannot move orders": {
		"subject": _subjects.system, "action": "orders.transition", "resource": _move(_order_teammate, "CLOSED"),
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"junior cancels own order": {
		"subject": _junior,
		"action": "orders.transition",
		"resource": _move(_order_junior, "CANCELLED"),
		"allow": true,
	},
	"senior cancels own order": {
		"subject": _senior,
		"action": "orders.transition",
		"resource": _move(_order_senior, "CANCELLED"),
		"allow": true,
	},
	"manager fulfils an order of the branch": {
		"subject": _manager, "action": "orders.transition", "resource": _move(_order_teammate, "FULFILLED"),
		"allow": true,
	},
	"manager closes an order of the branch": {
		"subject": _manager, "action": "orders.transition", "resource": _move(_order_other_team, "CLOSED"),
		"allow": true,
	},
	"manager cancels an order of the branch": {
		"subject": _manager, "action": "orders.transition", "resource": _move(_order_teammate, "CANCELLED"),
		"allow": true,
	},
	"manager cancels own order from a former branch": {
		"subject": _manager, "action": "orders.transition",
		"resource": _move({"submitted_by": "e-m", "branch_id": "b-9"}, "CANCELLED"), "allow": true,
	},
	"headquarters manager fulfils any order": {
		"subject": _hq_manager, "action": "orders.transition", "resource": _move(_order_other_branch, "FULFILLED"),
		"allow": true,
	},
	"finance closes any order": {
		"subject": _finance, "action": "orders.transition", "resource": _move(_order_other_branch, "CLOSED"),
		"allow": true,
	},
	# payments, shipments, reconciliation, lookups
	"manager cannot record payments": {
		"subject": _manager,
		"action": "payments.record",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"hr cannot reverse payments": {
		"subject": _hr,
		"action": "payments.reverse",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"manager cannot read another branch's payments": {
		"subject": _manager,
		"action": "payments.read",
		"resource": {"branch_id": "b-9"},
		"reasons": ["OUT_OF_SCOPE"],
	},
	"junior cannot read payments": {
		"subject": _junior,
		"action": "payments.read",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"manager cannot record a shipment in another branch": {
		"subject": _manager, "action": "shipments.record", "resource": {"branch_id": "b-9"},
		"reasons": ["OUT_OF_SCOPE"],
	},
	"recording a shipment needs the order": {
		"subject": _finance,
		"action": "shipments.record",
		"resource": null,
		"reasons": ["RESOURCE_REQUIRED"],
	},
	"senior cannot record shipments": {
		"subject": _senior, "action": "shipments.record", "resource": {"branch_id": "b-1"},
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"junior cannot read a teammate's shipments": {
		"subject": _junior,
		"action": "shipments.read",
		"resource": _order_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"admin cannot read shipments": {
		"subject": _subjects.admin,
		"action": "shipments.read",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"manager cannot run reconciliation": {
		"subject": _manager,
		"action": "reconciliation.run",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"hr cannot read reconciliation": {
		"subject": _hr,
		"action": "reconciliation.read",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"manager cannot detect diversion": {
		"subject": _manager,
		"action": "diversion.detect",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"hr cannot read contact facts": {
		"subject": _hr,
		"action": "visits.contact_facts",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"finance cannot read customer facts": {
		"subject": _finance,
		"action": "customers.facts",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"manager reads branch payments": {
		"subject": _manager,
		"action": "payments.read",
		"resource": {"branch_id": "b-1"},
		"allow": true,
	},
	"manager records a shipment in the branch": {
		"subject": _manager,
		"action": "shipments.record",
		"resource": {"branch_id": "b-1"},
		"allow": true,
	},
	"finance records a shipment anywhere": {
		"subject": _finance,
		"action": "shipments.record",
		"resource": {"branch_id": "b-9"},
		"allow": true,
	},
	"junior reads own order's shipments": {
		"subject": _junior,
		"action": "shipments.read",
		"resource": _order_junior,
		"allow": true,
	},
	"manager reads a branch reconciliation": {
		"subject": _manager,
		"action": "reconciliation.read",
		"resource": {"branch_id": "b-1"},
		"allow": true,
	},
}

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
