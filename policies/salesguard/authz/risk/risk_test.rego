package salesguard.authz.risk_test

import data.salesguard.authz

# risk.read (issue 6, SPEC G4: employeeRisk, riskRanking): how an employee's
# alerts add up. HR ranks any branch, a manager their own (every branch at
# headquarters). Reps are refused, even for themselves: a score tells them how
# close they are to being noticed. Finance reads alerts (fake deals, payer
# mismatches) but does not judge people. The services ask with resource null
# for a list of employees (the scope filters the alerts) and with {branch_id}
# for a branch's ranking.

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

_own_branch := {"branch_id": "b-1"}

_other_branch := {"branch_id": "b-9"}

# Nobody's grants cover their own alerts; a branch manager's leave the branch's
# managers to HR and headquarters (issue 11 item 7).
_all(subject) := [{"scope": {"kind": "all"}, "masked_fields": [], "excluded_subjects": [subject.id]}]

_branch_b1 := [{
	"scope": {"kind": "branch", "branch_id": "b-1"}, "masked_fields": [],
	"excluded_subjects": ["e-m"], "hidden_subject_roles": ["MANAGER"],
}]

_decide(subject, resource) := d if {
	d := authz.decision with input as {"subject": subject, "action": "risk.read", "resource": resource}
}

_allowed := {
	"hr lists anyone": {"subject": "hr", "resource": null, "grants": _all(_subjects.hr)},
	"hr ranks another branch": {"subject": "hr", "resource": _other_branch, "grants": _all(_subjects.hr)},
	"manager lists their branch": {"subject": "manager", "resource": null, "grants": _branch_b1},
	"manager ranks their branch": {"subject": "manager", "resource": _own_branch, "grants": _branch_b1},
	"headquarters manager ranks any branch": {
		"subject": "hq_manager",
		"resource": _other_branch,
		"grants": _all(_subjects.hq_manager),
	},
}

test_risk_allowed[note] if {
	some note, tc in _allowed
	d := _decide(_subjects[tc.subject], tc.resource)
	d.allow == true
	d.grants == tc.grants
	d.reasons == []
	d.max_rows == 1000
}

test_manager_of_another_branch_refused if {
	d := _decide(_subjects.manager, _other_branch)
	d == {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": ["OUT_OF_SCOPE"]}
}

test_manager_without_branch_has_no_scope if {
	d := _decide(_subjects.manager_no_branch, null)
	d.allow == false
	d.reasons == ["NO_SCOPE"]
}

# Reps (even on their own branch), finance, admin and services are refused.
test_risk_refused[note] if {
	some name in {"junior", "senior", "finance", "admin", "system"}
	some resource in [null, _own_branch]
	note := sprintf("%s on %v", [name, resource])
	d := _decide(_subjects[name], resource)
	d == {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": ["ROLE_NOT_PERMITTED"]}
}
