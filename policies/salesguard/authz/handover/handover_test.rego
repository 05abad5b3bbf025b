package salesguard.authz.handover_test

import data.salesguard.authz

# customers.handover (C6): when an employee leaves, HR or an administrator (the
# people who may set the status LEFT) move all their customers to a successor or
# to the branch pool in one call. Nobody else hands customers over this way; a
# manager reassigns through customers.reassign.
#
# jobs.run: a scheduled job runs as its service's SYSTEM principal; no person
# starts a job's work through the API.

_subjects := {
	"junior": {"id": "e-j", "roles": ["SALES_JUNIOR"], "team": "t-1", "branch": "b-1", "hq": false},
	"senior": {"id": "e-s", "roles": ["SALES_SENIOR"], "team": "t-1", "branch": "b-1", "hq": false},
	"manager": {"id": "e-m", "roles": ["MANAGER"], "team": null, "branch": "b-1", "hq": false},
	"hq_manager": {"id": "e-hq", "roles": ["MANAGER"], "team": null, "branch": "b-hq", "hq": true},
	"hr": {"id": "e-hr", "roles": ["HR"], "team": null, "branch": "b-hq", "hq": true},
	"finance": {"id": "e-f", "roles": ["FINANCE"], "team": null, "branch": "b-hq", "hq": true},
	"admin": {"id": "e-a", "roles": ["ADMIN"], "team": null, "branch": "b-hq", "hq": true},
	"system": {"id": "system:customers", "roles": ["SYSTEM"], "team": null, "branch": null, "hq": false},
}

_decide(subject, action, resource) := d if {
	d := authz.decision with input as {"subject": subject, "action": action, "resource": resource}
}

_allowed_all := {
	"allow": true,
	"grants": [{"scope": {"kind": "all"}, "masked_fields": []}],
	"max_rows": 1000,
	"requires_approval": false,
	"reasons": [],
}

_refused := {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": ["ROLE_NOT_PERMITTED"]}

_who_may := {
	"customers.handover": {"hr", "admin"},
	"jobs.run": {"system"},
}

test_who_may[note] if {
	some action, allowed in _who_may
	some name, subject in _subjects
	note := sprintf("%s by %s", [action, name])
	d := _decide(subject, action, null)
	expected := _expected(name, allowed, data.salesguard.tiers.max_rows[subject.roles[0]])
	d == expected
}

_expected(name, allowed, max_rows) := object.union(_allowed_all, {"max_rows": max_rows}) if {
	name in allowed
} else := _refused

# The job's name travels as the resource; every job of every service may run.
test_system_runs_any_job[job] if {
	some job in ["customers.pool-sweep", "customers.contact-reads-retention"]
	d := _decide(_subjects.system, "jobs.run", {"job": job})
	d.allow == true
}

# A leaving rep's manager cannot empty the rep's book through the handover: it
# moves every customer of the employee at once, beyond any branch scope check.
test_manager_cannot_hand_over if {
	d := _decide(_subjects.manager, "customers.handover", {"branch_id": "b-1"})
	d.allow == false
}

# The leaving employee (or any rep) cannot pick their own successor.
test_rep_cannot_hand_over_own_customers if {
	d := _decide(_subjects.junior, "customers.handover", {"employee_id": "e-j", "branch_id": "b-1"})
	d.reasons == ["ROLE_NOT_PERMITTED"]
}
