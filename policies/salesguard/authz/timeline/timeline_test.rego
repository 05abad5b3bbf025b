package salesguard.authz.timeline_test

import data.salesguard.authz

# timeline.read (issue 6, SPEC G4): one employee's evidence in time order. HR
# investigates anyone, a manager the employees of their branch (all of them at
# headquarters). Reps do not read timelines, not even their own: a timeline
# shows the audit events and alerts about its employee, which an employee under
# investigation must not see.

_subjects := {
	"junior": {"id": "e-j", "roles": ["SALES_JUNIOR"], "team": "t-1", "branch": "b-1", "hq": false},
	"senior": {"id": "e-s", "roles": ["SALES_SENIOR"], "team": "t-1", "branch": "b-1", "hq": false},
	"manager": {"id": "e-m", "roles": ["MANAGER"], "team": null, "branch": "b-1", "hq": false},
	"manager_no_branch": {"id": "e-m2", "roles": ["MANAGER"], "team": null, "branch": null, "hq": false},
	"hq_manager": {"id": "e-hq", "roles": ["MANAGER"], "team": null, "branch": "b-hq", "hq": true},
	"hr": {"id": "e-hr", "roles": ["HR"], "team": null, "branch": "b-hq", "hq": true},
	"finance": {"id": "e-f", "roles": ["FINANCE"], "team": null, "branch": "b-hq", "hq": true},
	"admin": {"id": "e-a", "roles": ["ADMIN"], "team": null, "branch": "b-hq", "hq": true},
	"system": {"id": "svc", "roles": ["SYSTEM"], "team": null, "branch": null, "hq": false},
}

_same_branch := {"employee_id": "e-x", "team_id": "t-1", "branch_id": "b-1"}

_other_branch := {"employee_id": "e-z", "team_id": "t-9", "branch_id": "b-9"}

_self(subject) := {"employee_id": subject.id, "team_id": subject.team, "branch_id": subject.branch}

# A branch manager's grant leaves out their own case and the branch's other
# managers' (theirs are for HR and headquarters: issue 11 item 7).
_manager_grants := [{
	"scope": {"kind": "branch", "branch_id": "b-1"}, "masked_fields": [],
	"excluded_subjects": ["e-m"], "hidden_subject_roles": ["MANAGER"],
}]

_decide(subject, resource) := d if {
	d := authz.decision with input as {"subject": subject, "action": "timeline.read", "resource": resource}
}

_cases := {
	"hr lists anyone": {
		"subject": "hr", "resource": null, "allow": true,
		"grants": [{"scope": {"kind": "all"}, "masked_fields": [], "excluded_subjects": ["e-hr"]}],
	},
	"hr reads another branch's employee": {
		"subject": "hr", "resource": _other_branch, "allow": true,
		"grants": [{"scope": {"kind": "all"}, "masked_fields": [], "excluded_subjects": ["e-hr"]}],
	},
	"manager lists their branch": {
		"subject": "manager", "resource": null, "allow": true,
		"grants": _manager_grants,
	},
	"manager reads an employee of their branch": {
		"subject": "manager", "resource": _same_branch, "allow": true,
		"grants": _manager_grants,
	},
	"manager of headquarters reads any branch": {
		"subject": "hq_manager", "resource": _other_branch, "allow": true,
		"grants": [{"scope": {"kind": "all"}, "masked_fields": [], "excluded_subjects": ["e-hq"]}],
	},
}

test_timeline_allowed[note] if {
	some note, tc in _cases
	d := _decide(_subjects[tc.subject], tc.resource)
	d.allow == tc.allow
	d.grants == tc.grants
	d.reasons == []
	d.max_rows == 1000
}

test_manager_of_another_branch_refused if {
	d := _decide(_subjects.manager, _other_branch)
	d.allow == false
	d.grants == []
	d.reasons == ["OUT_OF_SCOPE"]
}

test_manager_without_branch_has_no_scope if {
	d := _decide(_subjects.manager_no_branch, null)
	d.allow == false
	d.reasons == ["NO_SCOPE"]
}

# Reps (even for their own timeline), finance, admin and services are refused.
test_timeline_refused[name] if {
	some name in {"junior", "senior", "finance", "admin", "system"}
	subject := _subjects[name]
	some resource in [null, _self(subject), _same_branch]
	d := _decide(subject, resource)
	d == {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": ["ROLE_NOT_PERMITTED"]}
}
