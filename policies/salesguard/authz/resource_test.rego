package salesguard.authz_test

# Decisions on one resource: scope, field checks, self-approval, headquarters.
# Fixtures are in authz_test.rego, the customers' cases in customer_resource_test.rego.

_resource_cases := object.union(_customer_resource_cases, _employee_resource_cases)

_employee_resource_cases := {
	# audit, alerts
	"junior never reads the audit trail": {
		"subject": _junior,
		"action": "audit.read",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"manager updates a branch alert": {
		"subject": _manager, "action": "alerts.update", "resource": {"branch_id": "b-1", "status": "OPEN"},
		"allow": true,
	},
	"manager cannot update another branch's alert": {
		"subject": _manager,
		"action": "alerts.update",
		"resource": {"branch_id": "b-9"},
		"reasons": ["OUT_OF_SCOPE"],
	},
	"hr updates any alert": {
		"subject": _hr,
		"action": "alerts.update",
		"resource": {"branch_id": "b-9", "status": "OPEN"},
		"allow": true,
	},
	"admin cannot read alerts": {
		"subject": _subjects.admin,
		"action": "alerts.read",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	# directory
	"junior reads a teammate's entry": {
		"subject": _junior, "action": "directory.read",
		"resource": {"employee_id": "e-x", "team_id": "t-1", "branch_id": "b-1"}, "allow": true,
	},
	"junior cannot read another team's entry": {
		"subject": _junior, "action": "directory.read",
		"resource": {"employee_id": "e-y", "team_id": "t-2", "branch_id": "b-1"}, "reasons": ["OUT_OF_SCOPE"],
	},
	"junior without a team reads own entry": {
		"subject": object.union(_junior, {"team": null}), "action": "directory.read",
		"resource": {"employee_id": "e-j", "team_id": null, "branch_id": "b-1"}, "allow": true,
	},
	"manager reads a branch entry": {
		"subject": _manager, "action": "directory.read",
		"resource": {"employee_id": "e-y", "team_id": "t-2", "branch_id": "b-1"}, "allow": true,
	},
	"manager cannot read another branch's entry": {
		"subject": _manager, "action": "directory.read",
		"resource": {"employee_id": "e-z", "team_id": "t-9", "branch_id": "b-9"}, "reasons": ["OUT_OF_SCOPE"],
	},
	"hr writes teams anywhere": {
		"subject": _hr,
		"action": "directory.teams.write",
		"resource": {"branch_id": "b-9"},
		"allow": true,
	},
	"manager cannot write employees": {
		"subject": _manager, "action": "directory.employees.write", "resource": {"branch_id": "b-1"},
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"hr cannot write branches": {
		"subject": _hr,
		"action": "directory.branches.write",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"admin cannot resolve principals": {
		"subject": _subjects.admin,
		"action": "directory.resolve",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"admin cannot read customers": {
		"subject": _subjects.admin,
		"action": "customers.read",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"system cannot read customers": {
		"subject": _subjects.system,
		"action": "customers.read",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	# visits.plan
	"junior plans own visits": {"subject": _junior, "action": "visits.plan", "resource": _emp_junior, "allow": true},
	"junior cannot plan for a teammate": {
		"subject": _junior,
		"action": "visits.plan",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"senior cannot plan for a teammate": {
		"subject": _senior,
		"action": "visits.plan",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"a plan is owned through employee_id, not owner_id": {
		"subject": _junior, "action": "visits.plan",
		"resource": {"owner_id": "e-j", "team_id": "t-1", "branch_id": "b-1"}, "reasons": ["OUT_OF_SCOPE"],
	},
	"manager plans for a rep of the branch": {
		"subject": _manager,
		"action": "visits.plan",
		"resource": _emp_other_team,
		"allow": true,
	},
	"manager cannot plan for another branch": {
		"subject": _manager,
		"action": "visits.plan",
		"resource": _emp_other_branch,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"headquarters manager plans for any branch": {
		"subject": _hq_manager,
		"action": "visits.plan",
		"resource": _emp_other_branch,
		"allow": true,
	},
	"planning needs the employee": {
		"subject": _junior,
		"action": "visits.plan",
		"resource": null,
		"reasons": ["RESOURCE_REQUIRED"],
	},
	"hr cannot plan visits": {
		"subject": _hr,
		"action": "visits.plan",
		"resource": _emp_junior,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"system cannot plan visits": {
		"subject": _subjects.system, "action": "visits.plan", "resource": _emp_junior,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	# visits.read
	"junior reads own plan": {"subject": _junior, "action": "visits.read", "resource": _emp_junior, "allow": true},
	"junior cannot read a teammate's plan": {
		"subject": _junior,
		"action": "visits.read",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"senior cannot read a teammate's plan": {
		"subject": _senior,
		"action": "visits.read",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager cannot read another branch's plans": {
		"subject": _manager,
		"action": "visits.read",
		"resource": _emp_other_branch,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"finance cannot read plans": {
		"subject": _subjects.finance,
		"action": "visits.read",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	# checkins.create
	"junior checks in": {"subject": _junior, "action": "checkins.create", "resource": _emp_junior, "allow": true},
	"manager checks in": {"subject": _manager, "action": "checkins.create", "resource": _emp_manager, "allow": true},
	"junior cannot check in for a teammate": {
		"subject": _junior,
		"action": "checkins.create",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"senior cannot check in for a teammate": {
		"subject": _senior,
		"action": "checkins.create",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager cannot check in for a rep of the branch": {
		"subject": _manager,
		"action": "checkins.create",
		"resource": _emp_junior,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"headquarters manager cannot check in for anyone": {
		"subject": _hq_manager,
		"action": "checkins.create",
		"resource": _emp_other_branch,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"a check-in is owned through employee_id, not owner_id": {
		"subject": _junior, "action": "checkins.create",
		"resource": {"owner_id": "e-j", "team_id": "t-1", "branch_id": "b-1"}, "reasons": ["OUT_OF_SCOPE"],
	},
	"checking in needs the employee": {
		"subject": _junior,
		"action": "checkins.create",
		"resource": null,
		"reasons": ["RESOURCE_REQUIRED"],
	},
	"hr cannot check in for a rep": {
		"subject": _hr,
		"action": "checkins.create",
		"resource": _emp_junior,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"admin cannot check in for a rep": {
		"subject": _subjects.admin, "action": "checkins.create", "resource": _emp_junior,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"finance cannot check in for a rep": {
		"subject": _subjects.finance, "action": "checkins.create", "resource": _emp_junior,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"system cannot check in for a rep": {
		"subject": _subjects.system, "action": "checkins.create", "resource": _emp_junior,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	# checkins.read
	"junior reads own check-in": {
		"subject": _junior,
		"action": "checkins.read",
		"resource": _emp_junior,
		"allow": true,
	},
	"junior cannot read a teammate's check-in": {
		"subject": _junior,
		"action": "checkins.read",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"senior cannot read a teammate's check-in": {
		"subject": _senior,
		"action": "checkins.read",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager reads a check-in of the branch": {
		"subject": _manager,
		"action": "checkins.read",
		"resource": _emp_other_team,
		"allow": true,
	},
	"manager cannot read another branch's check-in": {
		"subject": _manager,
		"action": "checkins.read",
		"resource": _emp_other_branch,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"hr reads any check-in": {"subject": _hr, "action": "checkins.read", "resource": _emp_other_branch, "allow": true},
	"finance cannot read a check-in": {
		"subject": _subjects.finance, "action": "checkins.read", "resource": _emp_junior,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"admin cannot read a check-in": {
		"subject": _subjects.admin, "action": "checkins.read", "resource": _emp_junior,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	# photos, call logs, detectors, lookups
	"finance cannot upload photos": {
		"subject": _subjects.finance,
		"action": "photos.upload",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"system cannot upload photos": {
		"subject": _subjects.system,
		"action": "photos.upload",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	# commission statements: reps their own, managers their branch
	"junior reads own statement": {
		"subject": _junior,
		"action": "commissions.read",
		"resource": _emp_junior,
		"allow": true,
	},
	"junior cannot read a teammate's statement": {
		"subject": _junior,
		"action": "commissions.read",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager reads a statement of the branch": {
		"subject": _manager,
		"action": "commissions.read",
		"resource": _emp_teammate,
		"allow": true,
	},
	"manager cannot read another branch's statement": {
		"subject": _manager,
		"action": "commissions.read",
		"resource": _emp_other_branch,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"junior reads own call log": {
		"subject": _junior,
		"action": "calllogs.read",
		"resource": _emp_junior,
		"allow": true,
	},
	"junior cannot read a teammate's call log": {
		"subject": _junior,
		"action": "calllogs.read",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"senior cannot read a teammate's call log": {
		"subject": _senior,
		"action": "calllogs.read",
		"resource": _emp_teammate,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager cannot read another branch's call log": {
		"subject": _manager,
		"action": "calllogs.read",
		"resource": _emp_other_branch,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"system cannot read call logs": {
		"subject": _subjects.system,
		"action": "calllogs.read",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"manager cannot import call logs": {
		"subject": _manager,
		"action": "calllogs.import",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"manager cannot run detectors": {
		"subject": _manager,
		"action": "detectors.run",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"hr cannot match phones": {
		"subject": _hr,
		"action": "customers.match_phones",
		"resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"admin cannot list follow-up marks": {
		"subject": _subjects.admin, "action": "customers.follow_ups.marks", "resource": null,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
}

test_resource[note] if {
	some note, tc in _resource_cases
	d := _decide(tc.subject, tc.action, tc.resource)
	_matches(d, tc)
}

_matches(d, tc) if {
	tc.allow == true
	d.allow == true
	d.reasons == []
	count(d.grants) > 0
}

_matches(d, tc) if {
	not tc.allow
	d == {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": tc.reasons}
}
