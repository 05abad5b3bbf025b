package salesguard.authz_test

# Decisions on one customer (customers.*): scope, field checks, reassignment,
# exports. Fixtures are in authz_test.rego; resource_test.rego runs the table.

_customer_resource_cases := {
	# customers.read
	"junior reads own customer": {
		"subject": _junior,
		"action": "customers.read",
		"resource": _cust_junior,
		"allow": true,
	},
	"junior cannot read a teammate's customer": {
		"subject": _junior,
		"action": "customers.read",
		"resource": _cust_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"senior reads a teammate's customer": {
		"subject": _senior,
		"action": "customers.read",
		"resource": _cust_teammate,
		"allow": true,
	},
	"senior cannot read another team's customer": {
		"subject": _senior,
		"action": "customers.read",
		"resource": _cust_other_team,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager reads a customer of the branch": {
		"subject": _manager,
		"action": "customers.read",
		"resource": _cust_other_team,
		"allow": true,
	},
	"manager cannot read another branch": {
		"subject": _manager,
		"action": "customers.read",
		"resource": _cust_other_branch,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"headquarters manager reads another branch": {
		"subject": _hq_manager,
		"action": "customers.read",
		"resource": _cust_other_branch,
		"allow": true,
	},
	"hr reads any customer": {
		"subject": _hr,
		"action": "customers.read",
		"resource": _cust_other_branch,
		"allow": true,
	},
	"missing owner is out of scope": {
		"subject": _junior,
		"action": "customers.read",
		"resource": {"team_id": "t-1"},
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager without a branch has no scope": {
		"subject": object.union(_manager, {"branch": null}), "action": "customers.read", "resource": null,
		"reasons": ["NO_SCOPE"],
	},
	# customers.register
	"junior registers for self": {
		"subject": _junior,
		"action": "customers.register",
		"resource": _cust_junior,
		"allow": true,
	},
	"junior cannot register for a teammate": {
		"subject": _junior,
		"action": "customers.register",
		"resource": _cust_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"senior cannot register for a teammate": {
		"subject": _senior,
		"action": "customers.register",
		"resource": _cust_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager registers for a rep of the branch": {
		"subject": _manager,
		"action": "customers.register",
		"resource": _cust_teammate,
		"allow": true,
	},
	"manager cannot register into another branch": {
		"subject": _manager, "action": "customers.register", "resource": _cust_other_branch,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"headquarters manager registers anywhere": {
		"subject": _hq_manager,
		"action": "customers.register",
		"resource": _cust_other_branch,
		"allow": true,
	},
	"register needs a resource": {
		"subject": _junior,
		"action": "customers.register",
		"resource": null,
		"reasons": ["RESOURCE_REQUIRED"],
	},
	# customers.update
	"junior updates contact of own customer": {
		"subject": _junior, "action": "customers.update",
		"resource": object.union(_cust_junior, {"fields": ["phone", "notes"]}), "allow": true,
	},
	"junior cannot change the source": {
		"subject": _junior, "action": "customers.update",
		"resource": object.union(_cust_junior, {"fields": ["notes", "source"]}),
		"reasons": ["SOURCE_CHANGE_NEEDS_MANAGER"],
	},
	"junior cannot change the source detail": {
		"subject": _junior, "action": "customers.update",
		"resource": object.union(_cust_junior, {"fields": ["source_detail"]}),
		"reasons": ["SOURCE_CHANGE_NEEDS_MANAGER"],
	},
	"junior cannot update a teammate's customer": {
		"subject": _junior, "action": "customers.update",
		"resource": object.union(_cust_teammate, {"fields": ["notes"]}), "reasons": ["OUT_OF_SCOPE"],
	},
	"senior updates non-core fields": {
		"subject": _senior, "action": "customers.update",
		"resource": object.union(_cust_senior, {"fields": ["notes", "address", "industry"]}), "allow": true,
	},
	"senior cannot update the phone": {
		"subject": _senior, "action": "customers.update", "resource": object.union(_cust_senior, {"fields": ["phone"]}),
		"reasons": ["CORE_FIELD_READ_ONLY"],
	},
	"senior cannot update the name": {
		"subject": _senior, "action": "customers.update",
		"resource": object.union(_cust_senior, {"fields": ["notes", "name"]}), "reasons": ["CORE_FIELD_READ_ONLY"],
	},
	"senior cannot update first contact time": {
		"subject": _senior, "action": "customers.update",
		"resource": object.union(_cust_senior, {"fields": ["first_contact_at"]}), "reasons": ["CORE_FIELD_READ_ONLY"],
	},
	"senior cannot update a teammate's customer": {
		"subject": _senior, "action": "customers.update",
		"resource": object.union(_cust_teammate, {"fields": ["notes"]}), "reasons": ["OUT_OF_SCOPE"],
	},
	"senior update without fields is refused": {
		"subject": _senior,
		"action": "customers.update",
		"resource": _cust_senior,
		"reasons": ["FIELDS_REQUIRED"],
	},
	"manager changes the source in the branch": {
		"subject": _manager, "action": "customers.update",
		"resource": object.union(_cust_teammate, {"fields": ["source", "source_detail", "phone"]}), "allow": true,
	},
	"manager cannot update another branch": {
		"subject": _manager, "action": "customers.update",
		"resource": object.union(_cust_other_branch, {"fields": ["notes"]}), "reasons": ["OUT_OF_SCOPE"],
	},
	"senior who is also manager updates core fields": {
		"subject": object.union(_senior, {"roles": ["SALES_SENIOR", "MANAGER"]}), "action": "customers.update",
		"resource": object.union(_cust_senior, {"fields": ["phone"]}), "allow": true,
	},
	"senior and junior roles give both reasons": {
		"subject": object.union(_senior, {"roles": ["SALES_SENIOR", "SALES_JUNIOR"]}), "action": "customers.update",
		"resource": object.union(_cust_senior, {"fields": ["source"]}),
		"reasons": ["CORE_FIELD_READ_ONLY", "SOURCE_CHANGE_NEEDS_MANAGER"],
	},
	"update needs a resource": {
		"subject": _manager,
		"action": "customers.update",
		"resource": null,
		"reasons": ["RESOURCE_REQUIRED"],
	},
	"hr cannot update customers": {
		"subject": _hr, "action": "customers.update", "resource": object.union(_cust_junior, {"fields": ["notes"]}),
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	# customers.follow_up
	"senior follows up own customer": {
		"subject": _senior,
		"action": "customers.follow_up",
		"resource": _cust_senior,
		"allow": true,
	},
	"senior cannot follow up a teammate's customer": {
		"subject": _senior,
		"action": "customers.follow_up",
		"resource": _cust_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager follows up in the branch": {
		"subject": _manager,
		"action": "customers.follow_up",
		"resource": _cust_teammate,
		"allow": true,
	},
	"manager cannot follow up another branch": {
		"subject": _manager, "action": "customers.follow_up", "resource": _cust_other_branch,
		"reasons": ["OUT_OF_SCOPE"],
	},
	# customers.reassign
	"manager reassigns within the branch": {
		"subject": _manager, "action": "customers.reassign",
		"resource": object.union(_cust_teammate, {"new_owner_branch_id": "b-1"}), "allow": true,
	},
	"manager cannot reassign to another branch": {
		"subject": _manager, "action": "customers.reassign",
		"resource": object.union(_cust_teammate, {"new_owner_branch_id": "b-9"}), "reasons": ["OUT_OF_SCOPE"],
	},
	"manager cannot reassign from another branch": {
		"subject": _manager, "action": "customers.reassign",
		"resource": object.union(_cust_other_branch, {"new_owner_branch_id": "b-1"}), "reasons": ["OUT_OF_SCOPE"],
	},
	"manager cannot reassign without a new owner branch": {
		"subject": _manager,
		"action": "customers.reassign",
		"resource": _cust_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"headquarters manager reassigns across branches": {
		"subject": _hq_manager, "action": "customers.reassign",
		"resource": object.union(_cust_other_branch, {"new_owner_branch_id": "b-1"}), "allow": true,
	},
	"hr reassigns across branches": {
		"subject": _hr, "action": "customers.reassign",
		"resource": object.union(_cust_other_branch, {"new_owner_branch_id": "b-1"}), "allow": true,
	},
	"senior cannot reassign": {
		"subject": _senior, "action": "customers.reassign",
		"resource": object.union(_cust_senior, {"new_owner_branch_id": "b-1"}), "reasons": ["ROLE_NOT_PERMITTED"],
	},
	"a bulk reassignment gets the grants to check each customer against": {
		"subject": _manager,
		"action": "customers.reassign",
		"resource": null,
		"allow": true,
	},
	"a rep gets no reassignment grants": {
		"subject": _junior,
		"action": "customers.reassign",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	# customers.export.*
	"junior cannot request an export": {
		"subject": _junior,
		"action": "customers.export.request",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"manager approves another's request in the branch": {
		"subject": _manager, "action": "customers.export.decide",
		"resource": {"requester_id": "e-m2", "branch_id": "b-1"}, "allow": true,
	},
	"manager cannot decide own request": {
		"subject": _manager, "action": "customers.export.decide",
		"resource": {"requester_id": "e-m", "branch_id": "b-1"}, "reasons": ["SELF_APPROVAL"],
	},
	"manager cannot decide another branch's request": {
		"subject": _manager, "action": "customers.export.decide",
		"resource": {"requester_id": "e-m9", "branch_id": "b-9"}, "reasons": ["OUT_OF_SCOPE"],
	},
	"manager refused twice over": {
		"subject": _manager, "action": "customers.export.decide",
		"resource": {"requester_id": "e-m", "branch_id": "b-9"}, "reasons": ["OUT_OF_SCOPE", "SELF_APPROVAL"],
	},
	"headquarters manager decides any branch": {
		"subject": _hq_manager, "action": "customers.export.decide",
		"resource": {"requester_id": "e-m9", "branch_id": "b-9"}, "allow": true,
	},
	"headquarters manager cannot decide own request": {
		"subject": _hq_manager, "action": "customers.export.decide",
		"resource": {"requester_id": "e-hq", "branch_id": "b-hq"}, "reasons": ["SELF_APPROVAL"],
	},
	# With no resource: the queue, the requests one may decide (the service adds the
	# caller's own, which they see as requester; deciding them is SELF_APPROVAL).
	"manager lists the branch's requests to decide": {
		"subject": _manager,
		"action": "customers.export.decide",
		"resource": null,
		"allow": true,
	},
	"hr has no export requests to decide": {
		"subject": _hr,
		"action": "customers.export.decide",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"hr cannot decide exports": {
		"subject": _hr, "action": "customers.export.decide", "resource": {"requester_id": "e-m", "branch_id": "b-1"},
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"manager cannot run another's export": {
		"subject": _manager, "action": "customers.export.run", "resource": {"requester_id": "e-m2"},
		"reasons": ["OUT_OF_SCOPE"],
	},
	"hr cannot run another's export": {
		"subject": _hr, "action": "customers.export.run", "resource": {"requester_id": "e-m"},
		"reasons": ["OUT_OF_SCOPE"],
	},
	"running an export needs the request": {
		"subject": _hr,
		"action": "customers.export.run",
		"resource": null,
		"reasons": ["RESOURCE_REQUIRED"],
	},
}
