package salesguard.authz_test

# Decisions on one order, payment or shipment, run by test_order_resource in
# orders_test.rego. Fixtures are in authz_test.rego.

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
