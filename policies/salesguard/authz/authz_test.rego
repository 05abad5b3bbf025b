package salesguard.authz_test

import data.salesguard.authz

# ---------------------------------------------------------------- fixtures

_subjects := {
	"junior": {"id": "e-j", "roles": ["SALES_JUNIOR"], "team": "t-1", "branch": "b-1", "hq": false},
	"senior": {"id": "e-s", "roles": ["SALES_SENIOR"], "team": "t-1", "branch": "b-1", "hq": false},
	"manager": {"id": "e-m", "roles": ["MANAGER"], "team": null, "branch": "b-1", "hq": false},
	"hq_manager": {"id": "e-hq", "roles": ["MANAGER"], "team": null, "branch": "b-hq", "hq": true},
	"hr": {"id": "e-hr", "roles": ["HR"], "team": null, "branch": "b-hq", "hq": true},
	"finance": {"id": "e-f", "roles": ["FINANCE"], "team": null, "branch": "b-hq", "hq": true},
	"admin": {"id": "e-a", "roles": ["ADMIN"], "team": null, "branch": "b-hq", "hq": true},
	"system": {"id": "svc-gateway", "roles": ["SYSTEM"], "team": null, "branch": null, "hq": false},
}

_junior := _subjects.junior

_senior := _subjects.senior

_manager := _subjects.manager

_hq_manager := _subjects.hq_manager

_hr := _subjects.hr

_contact := ["address", "email", "phone"]

# Customers around the junior and senior of team t-1, branch b-1.
_cust_junior := {"owner_id": "e-j", "team_id": "t-1", "branch_id": "b-1"}

_cust_senior := {"owner_id": "e-s", "team_id": "t-1", "branch_id": "b-1"}

_cust_teammate := {"owner_id": "e-x", "team_id": "t-1", "branch_id": "b-1"}

_cust_other_team := {"owner_id": "e-y", "team_id": "t-2", "branch_id": "b-1"}

_cust_other_branch := {"owner_id": "e-z", "team_id": "t-9", "branch_id": "b-9"}

# Employees (plans, check-ins, call logs belong to one) around the same people.
_emp_junior := {"employee_id": "e-j", "team_id": "t-1", "branch_id": "b-1"}

_emp_senior := {"employee_id": "e-s", "team_id": "t-1", "branch_id": "b-1"}

_emp_manager := {"employee_id": "e-m", "team_id": null, "branch_id": "b-1"}

_emp_teammate := {"employee_id": "e-x", "team_id": "t-1", "branch_id": "b-1"}

_emp_other_team := {"employee_id": "e-y", "team_id": "t-2", "branch_id": "b-1"}

_emp_other_branch := {"employee_id": "e-z", "team_id": "t-9", "branch_id": "b-9"}

_decide(subject, action, resource) := d if {
	d := authz.decision with input as {"subject": subject, "action": action, "resource": resource}
}

# A resource inside the subject's own reach, for the role x action matrix.
_resource_for("null", _) := null

_resource_for("own", subject) := {
	"owner_id": subject.id,
	"team_id": subject.team,
	"branch_id": subject.branch,
	"new_owner_branch_id": subject.branch,
	"employee_id": subject.id,
	"requester_id": subject.id,
	"fields": ["notes"],
}

_resource_for("other_requester", subject) := {"requester_id": "e-other", "branch_id": subject.branch}

# ---------------------------------------------------------------- role x action

# Every action, with the subjects allowed when the resource is inside their reach.
_matrix := {
	"customers.read": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager", "hr", "finance"}},
	"customers.register": {"resource": "own", "allowed": {"junior", "senior", "manager", "hq_manager"}},
	"customers.update": {"resource": "own", "allowed": {"junior", "senior", "manager", "hq_manager"}},
	"customers.follow_up": {"resource": "own", "allowed": {"junior", "senior", "manager", "hq_manager"}},
	"customers.reassign": {"resource": "own", "allowed": {"manager", "hq_manager", "hr"}},
	"customers.export.request": {"resource": "null", "allowed": {"manager", "hq_manager", "hr"}},
	"customers.export.decide": {"resource": "other_requester", "allowed": {"manager", "hq_manager"}},
	"customers.export.run": {"resource": "own", "allowed": {"manager", "hq_manager", "hr"}},
	"audit.read": {"resource": "null", "allowed": {"manager", "hq_manager", "hr"}},
	"audit.verify": {"resource": "null", "allowed": {"hr", "admin"}},
	"alerts.read": {"resource": "null", "allowed": {"manager", "hq_manager", "hr"}},
	"alerts.update": {"resource": "own", "allowed": {"manager", "hq_manager", "hr"}},
	"directory.read": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager", "hr", "finance", "admin", "system"}},
	"directory.branches.write": {"resource": "null", "allowed": {"admin"}},
	"directory.teams.write": {"resource": "own", "allowed": {"hr", "admin"}},
	"directory.employees.write": {"resource": "own", "allowed": {"hr", "admin"}},
	"directory.resolve": {"resource": "null", "allowed": {"system"}},
	"customers.owners.sync": {"resource": "null", "allowed": {"system"}},
	"customers.nearby": {"resource": "null", "allowed": {"system"}},
	"customers.match_phones": {"resource": "null", "allowed": {"system"}},
	"customers.follow_ups.marks": {"resource": "null", "allowed": {"system"}},
	"visits.plan": {"resource": "own", "allowed": {"junior", "senior", "manager", "hq_manager"}},
	"visits.read": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager", "hr"}},
	"checkins.create": {"resource": "own", "allowed": {"junior", "senior", "manager", "hq_manager"}},
	"checkins.read": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager", "hr"}},
	"photos.upload": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager"}},
	"calllogs.import": {"resource": "null", "allowed": {"hr", "admin", "system"}},
	"calllogs.read": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager", "hr"}},
	"detectors.run": {"resource": "null", "allowed": {"hr", "admin", "system"}},
}

test_matrix_covers_every_action if {
	object.keys(_matrix) == object.keys(data.salesguard.tiers.actions)
}

test_role_action_allowed[note] if {
	some action, row in _matrix
	some name in row.allowed
	note := sprintf("%s by %s", [action, name])
	d := _decide(_subjects[name], action, _resource_for(row.resource, _subjects[name]))
	d.allow == true
	d.reasons == []
	d.max_rows > 0
	count(d.grants) > 0
}

test_role_action_refused[note] if {
	some action, row in _matrix
	some name, subject in _subjects
	not name in row.allowed
	note := sprintf("%s by %s", [action, name])
	d := _decide(subject, action, _resource_for(row.resource, subject))
	d == {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": ["ROLE_NOT_PERMITTED"]}
}

# The one scope each subject gets on the field-visit actions (absent: refused),
# on the matrix resource. Nothing on them is masked but the SYSTEM lookups.
_field_scopes := {
	"visits.plan": {"junior": "own", "senior": "own", "manager": "branch", "hq_manager": "all"},
	"visits.read": {"junior": "own", "senior": "own", "manager": "branch", "hq_manager": "all", "hr": "all"},
	"checkins.create": {"junior": "own", "senior": "own", "manager": "own", "hq_manager": "own"},
	"checkins.read": {"junior": "own", "senior": "own", "manager": "branch", "hq_manager": "all", "hr": "all"},
	"photos.upload": {"junior": "own", "senior": "own", "manager": "own", "hq_manager": "own"},
	"calllogs.import": {"hr": "all", "admin": "all", "system": "all"},
	"calllogs.read": {"junior": "own", "senior": "own", "manager": "branch", "hq_manager": "all", "hr": "all"},
	"detectors.run": {"hr": "all", "admin": "all", "system": "all"},
	"customers.match_phones": {"system": "all"},
	"customers.follow_ups.marks": {"system": "all"},
}

_lookup_masks := ["address", "company", "email", "name", "phone"]

_expected_field_grants(action, name) := [{"scope": scope, "masked_fields": masks}] if {
	kind := _field_scopes[action][name]
	scope := [s | some s in _scope_objects(_subjects[name]); s.kind == kind][0]
	masks := _field_masks(action)
} else := []

_scope_objects(subject) := [
	{"kind": "own", "employee_id": subject.id},
	{"kind": "team", "team_id": subject.team},
	{"kind": "branch", "branch_id": subject.branch},
	{"kind": "all"},
]

_field_masks(action) := _lookup_masks if {
	action in {"customers.match_phones", "customers.follow_ups.marks"}
} else := []

test_field_visit_grants[note] if {
	some action, _ in _field_scopes
	some name, subject in _subjects
	note := sprintf("%s by %s", [action, name])
	d := _decide(subject, action, _resource_for(_matrix[action].resource, subject))
	d.grants == _expected_field_grants(action, name)
	granted := count(d.grants) > 0
	d.allow == granted
}

# ---------------------------------------------------------------- listings

_listing_cases := {
	"junior reads own customers, unmasked": {
		"subject": _junior, "action": "customers.read",
		"grants": [{"scope": {"kind": "own", "employee_id": "e-j"}, "masked_fields": []}],
		"max_rows": 200,
	},
	"senior reads own unmasked and team masked": {
		"subject": _senior, "action": "customers.read",
		"grants": [
			{"scope": {"kind": "own", "employee_id": "e-s"}, "masked_fields": []},
			{"scope": {"kind": "team", "team_id": "t-1"}, "masked_fields": _contact},
		],
		"max_rows": 200,
	},
	"senior without a team keeps only own": {
		"subject": object.union(_senior, {"team": null}), "action": "customers.read",
		"grants": [{"scope": {"kind": "own", "employee_id": "e-s"}, "masked_fields": []}],
		"max_rows": 200,
	},
	"manager reads own branch": {
		"subject": _manager, "action": "customers.read",
		"grants": [{"scope": {"kind": "branch", "branch_id": "b-1"}, "masked_fields": []}],
		"max_rows": 1000,
	},
	"headquarters manager reads all": {
		"subject": _hq_manager, "action": "customers.read",
		"grants": [{"scope": {"kind": "all"}, "masked_fields": []}],
		"max_rows": 1000,
	},
	"hr reads all, contact masked": {
		"subject": _hr, "action": "customers.read",
		"grants": [{"scope": {"kind": "all"}, "masked_fields": _contact}],
		"max_rows": 1000,
	},
	"finance reads all, contact masked": {
		"subject": _subjects.finance, "action": "customers.read",
		"grants": [{"scope": {"kind": "all"}, "masked_fields": _contact}],
		"max_rows": 1000,
	},
	"senior and hr: team grant folded into all": {
		"subject": object.union(_senior, {"roles": ["SALES_SENIOR", "HR"]}), "action": "customers.read",
		"grants": [
			{"scope": {"kind": "own", "employee_id": "e-s"}, "masked_fields": []},
			{"scope": {"kind": "all"}, "masked_fields": _contact},
		],
		"max_rows": 1000,
	},
	"senior and manager: branch grant unmasks the team": {
		"subject": object.union(_senior, {"roles": ["MANAGER", "SALES_SENIOR"]}), "action": "customers.read",
		"grants": [{"scope": {"kind": "branch", "branch_id": "b-1"}, "masked_fields": []}],
		"max_rows": 1000,
	},
	"hr and headquarters manager: masks intersect on all": {
		"subject": object.union(_hq_manager, {"roles": ["HR", "MANAGER"]}), "action": "customers.read",
		"grants": [{"scope": {"kind": "all"}, "masked_fields": []}],
		"max_rows": 1000,
	},
	"duplicate roles change nothing": {
		"subject": object.union(_junior, {"roles": ["SALES_JUNIOR", "SALES_JUNIOR"]}), "action": "customers.read",
		"grants": [{"scope": {"kind": "own", "employee_id": "e-j"}, "masked_fields": []}],
		"max_rows": 200,
	},
	"junior reads the team in the directory (own entry folded in)": {
		"subject": _junior, "action": "directory.read",
		"grants": [{"scope": {"kind": "team", "team_id": "t-1"}, "masked_fields": []}],
		"max_rows": 200,
	},
	"junior without a team reads own entry": {
		"subject": object.union(_junior, {"team": null}), "action": "directory.read",
		"grants": [{"scope": {"kind": "own", "employee_id": "e-j"}, "masked_fields": []}],
		"max_rows": 200,
	},
	"manager reads branch audit trail": {
		"subject": _manager, "action": "audit.read",
		"grants": [{"scope": {"kind": "branch", "branch_id": "b-1"}, "masked_fields": []}],
		"max_rows": 1000,
	},
	"hr reads all alerts": {
		"subject": _hr, "action": "alerts.read",
		"grants": [{"scope": {"kind": "all"}, "masked_fields": []}],
		"max_rows": 1000,
	},
	"junior lists own visit plans": {
		"subject": _junior, "action": "visits.read",
		"grants": [{"scope": {"kind": "own", "employee_id": "e-j"}, "masked_fields": []}],
		"max_rows": 200,
	},
	"senior lists own check-ins, not the team's": {
		"subject": _senior, "action": "checkins.read",
		"grants": [{"scope": {"kind": "own", "employee_id": "e-s"}, "masked_fields": []}],
		"max_rows": 200,
	},
	"manager lists branch check-ins": {
		"subject": _manager, "action": "checkins.read",
		"grants": [{"scope": {"kind": "branch", "branch_id": "b-1"}, "masked_fields": []}],
		"max_rows": 1000,
	},
	"headquarters manager lists all call logs": {
		"subject": _hq_manager, "action": "calllogs.read",
		"grants": [{"scope": {"kind": "all"}, "masked_fields": []}],
		"max_rows": 1000,
	},
	"hr lists all check-ins, photos included": {
		"subject": _hr, "action": "checkins.read",
		"grants": [{"scope": {"kind": "all"}, "masked_fields": []}],
		"max_rows": 1000,
	},
	"senior who is also manager lists branch check-ins unmasked": {
		"subject": object.union(_senior, {"roles": ["SALES_SENIOR", "MANAGER"]}), "action": "checkins.read",
		"grants": [{"scope": {"kind": "branch", "branch_id": "b-1"}, "masked_fields": []}],
		"max_rows": 1000,
	},
	"system imports call logs": {
		"subject": _subjects.system, "action": "calllogs.import",
		"grants": [{"scope": {"kind": "all"}, "masked_fields": []}],
		"max_rows": 1000,
	},
	"system phone matches return no names or contact": {
		"subject": _subjects.system, "action": "customers.match_phones",
		"grants": [{"scope": {"kind": "all"}, "masked_fields": ["address", "company", "email", "name", "phone"]}],
		"max_rows": 1000,
	},
	"system nearby returns no names or contact": {
		"subject": _subjects.system, "action": "customers.nearby",
		"grants": [{"scope": {"kind": "all"}, "masked_fields": ["address", "company", "email", "name", "phone"]}],
		"max_rows": 1000,
	},
}

test_listing[note] if {
	some note, tc in _listing_cases
	d := _decide(tc.subject, tc.action, null)
	d == {"allow": true, "grants": tc.grants, "max_rows": tc.max_rows, "requires_approval": false, "reasons": []}
}

# ---------------------------------------------------------------- one resource

_resource_cases := {
	# customers.read
	"junior reads own customer": {"subject": _junior, "action": "customers.read", "resource": _cust_junior, "allow": true},
	"junior cannot read a teammate's customer": {"subject": _junior, "action": "customers.read", "resource": _cust_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"senior reads a teammate's customer": {"subject": _senior, "action": "customers.read", "resource": _cust_teammate, "allow": true},
	"senior cannot read another team's customer": {"subject": _senior, "action": "customers.read", "resource": _cust_other_team, "reasons": ["OUT_OF_SCOPE"]},
	"manager reads a customer of the branch": {"subject": _manager, "action": "customers.read", "resource": _cust_other_team, "allow": true},
	"manager cannot read another branch": {"subject": _manager, "action": "customers.read", "resource": _cust_other_branch, "reasons": ["OUT_OF_SCOPE"]},
	"headquarters manager reads another branch": {"subject": _hq_manager, "action": "customers.read", "resource": _cust_other_branch, "allow": true},
	"hr reads any customer": {"subject": _hr, "action": "customers.read", "resource": _cust_other_branch, "allow": true},
	"missing owner is out of scope": {"subject": _junior, "action": "customers.read", "resource": {"team_id": "t-1"}, "reasons": ["OUT_OF_SCOPE"]},
	"manager without a branch has no scope": {"subject": object.union(_manager, {"branch": null}), "action": "customers.read", "resource": null, "reasons": ["NO_SCOPE"]},
	# customers.register
	"junior registers for self": {"subject": _junior, "action": "customers.register", "resource": _cust_junior, "allow": true},
	"junior cannot register for a teammate": {"subject": _junior, "action": "customers.register", "resource": _cust_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"senior cannot register for a teammate": {"subject": _senior, "action": "customers.register", "resource": _cust_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"manager registers for a rep of the branch": {"subject": _manager, "action": "customers.register", "resource": _cust_teammate, "allow": true},
	"manager cannot register into another branch": {"subject": _manager, "action": "customers.register", "resource": _cust_other_branch, "reasons": ["OUT_OF_SCOPE"]},
	"headquarters manager registers anywhere": {"subject": _hq_manager, "action": "customers.register", "resource": _cust_other_branch, "allow": true},
	"register needs a resource": {"subject": _junior, "action": "customers.register", "resource": null, "reasons": ["RESOURCE_REQUIRED"]},
	# customers.update
	"junior updates contact of own customer": {"subject": _junior, "action": "customers.update", "resource": object.union(_cust_junior, {"fields": ["phone", "notes"]}), "allow": true},
	"junior cannot change the source": {"subject": _junior, "action": "customers.update", "resource": object.union(_cust_junior, {"fields": ["notes", "source"]}), "reasons": ["SOURCE_CHANGE_NEEDS_MANAGER"]},
	"junior cannot change the source detail": {"subject": _junior, "action": "customers.update", "resource": object.union(_cust_junior, {"fields": ["source_detail"]}), "reasons": ["SOURCE_CHANGE_NEEDS_MANAGER"]},
	"junior cannot update a teammate's customer": {"subject": _junior, "action": "customers.update", "resource": object.union(_cust_teammate, {"fields": ["notes"]}), "reasons": ["OUT_OF_SCOPE"]},
	"senior updates non-core fields": {"subject": _senior, "action": "customers.update", "resource": object.union(_cust_senior, {"fields": ["notes", "address", "industry"]}), "allow": true},
	"senior cannot update the phone": {"subject": _senior, "action": "customers.update", "resource": object.union(_cust_senior, {"fields": ["phone"]}), "reasons": ["CORE_FIELD_READ_ONLY"]},
	"senior cannot update the name": {"subject": _senior, "action": "customers.update", "resource": object.union(_cust_senior, {"fields": ["notes", "name"]}), "reasons": ["CORE_FIELD_READ_ONLY"]},
	"senior cannot update first contact time": {"subject": _senior, "action": "customers.update", "resource": object.union(_cust_senior, {"fields": ["first_contact_at"]}), "reasons": ["CORE_FIELD_READ_ONLY"]},
	"senior cannot update a teammate's customer": {"subject": _senior, "action": "customers.update", "resource": object.union(_cust_teammate, {"fields": ["notes"]}), "reasons": ["OUT_OF_SCOPE"]},
	"senior update without fields is refused": {"subject": _senior, "action": "customers.update", "resource": _cust_senior, "reasons": ["FIELDS_REQUIRED"]},
	"manager changes the source in the branch": {"subject": _manager, "action": "customers.update", "resource": object.union(_cust_teammate, {"fields": ["source", "source_detail", "phone"]}), "allow": true},
	"manager cannot update another branch": {"subject": _manager, "action": "customers.update", "resource": object.union(_cust_other_branch, {"fields": ["notes"]}), "reasons": ["OUT_OF_SCOPE"]},
	"senior who is also manager updates core fields": {"subject": object.union(_senior, {"roles": ["SALES_SENIOR", "MANAGER"]}), "action": "customers.update", "resource": object.union(_cust_senior, {"fields": ["phone"]}), "allow": true},
	"senior and junior roles give both reasons": {"subject": object.union(_senior, {"roles": ["SALES_SENIOR", "SALES_JUNIOR"]}), "action": "customers.update", "resource": object.union(_cust_senior, {"fields": ["source"]}), "reasons": ["CORE_FIELD_READ_ONLY", "SOURCE_CHANGE_NEEDS_MANAGER"]},
	"update needs a resource": {"subject": _manager, "action": "customers.update", "resource": null, "reasons": ["RESOURCE_REQUIRED"]},
	"hr cannot update customers": {"subject": _hr, "action": "customers.update", "resource": object.union(_cust_junior, {"fields": ["notes"]}), "reasons": ["ROLE_NOT_PERMITTED"]},
	# customers.follow_up
	"senior follows up own customer": {"subject": _senior, "action": "customers.follow_up", "resource": _cust_senior, "allow": true},
	"senior cannot follow up a teammate's customer": {"subject": _senior, "action": "customers.follow_up", "resource": _cust_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"manager follows up in the branch": {"subject": _manager, "action": "customers.follow_up", "resource": _cust_teammate, "allow": true},
	"manager cannot follow up another branch": {"subject": _manager, "action": "customers.follow_up", "resource": _cust_other_branch, "reasons": ["OUT_OF_SCOPE"]},
	# customers.reassign
	"manager reassigns within the branch": {"subject": _manager, "action": "customers.reassign", "resource": object.union(_cust_teammate, {"new_owner_branch_id": "b-1"}), "allow": true},
	"manager cannot reassign to another branch": {"subject": _manager, "action": "customers.reassign", "resource": object.union(_cust_teammate, {"new_owner_branch_id": "b-9"}), "reasons": ["OUT_OF_SCOPE"]},
	"manager cannot reassign from another branch": {"subject": _manager, "action": "customers.reassign", "resource": object.union(_cust_other_branch, {"new_owner_branch_id": "b-1"}), "reasons": ["OUT_OF_SCOPE"]},
	"manager cannot reassign without a new owner branch": {"subject": _manager, "action": "customers.reassign", "resource": _cust_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"headquarters manager reassigns across branches": {"subject": _hq_manager, "action": "customers.reassign", "resource": object.union(_cust_other_branch, {"new_owner_branch_id": "b-1"}), "allow": true},
	"hr reassigns across branches": {"subject": _hr, "action": "customers.reassign", "resource": object.union(_cust_other_branch, {"new_owner_branch_id": "b-1"}), "allow": true},
	"senior cannot reassign": {"subject": _senior, "action": "customers.reassign", "resource": object.union(_cust_senior, {"new_owner_branch_id": "b-1"}), "reasons": ["ROLE_NOT_PERMITTED"]},
	"a bulk reassignment gets the grants to check each customer against": {"subject": _manager, "action": "customers.reassign", "resource": null, "allow": true},
	"a rep gets no reassignment grants": {"subject": _junior, "action": "customers.reassign", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	# customers.export.*
	"junior cannot request an export": {"subject": _junior, "action": "customers.export.request", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"manager approves another's request in the branch": {"subject": _manager, "action": "customers.export.decide", "resource": {"requester_id": "e-m2", "branch_id": "b-1"}, "allow": true},
	"manager cannot decide own request": {"subject": _manager, "action": "customers.export.decide", "resource": {"requester_id": "e-m", "branch_id": "b-1"}, "reasons": ["SELF_APPROVAL"]},
	"manager cannot decide another branch's request": {"subject": _manager, "action": "customers.export.decide", "resource": {"requester_id": "e-m9", "branch_id": "b-9"}, "reasons": ["OUT_OF_SCOPE"]},
	"manager refused twice over": {"subject": _manager, "action": "customers.export.decide", "resource": {"requester_id": "e-m", "branch_id": "b-9"}, "reasons": ["OUT_OF_SCOPE", "SELF_APPROVAL"]},
	"headquarters manager decides any branch": {"subject": _hq_manager, "action": "customers.export.decide", "resource": {"requester_id": "e-m9", "branch_id": "b-9"}, "allow": true},
	"headquarters manager cannot decide own request": {"subject": _hq_manager, "action": "customers.export.decide", "resource": {"requester_id": "e-hq", "branch_id": "b-hq"}, "reasons": ["SELF_APPROVAL"]},
	"deciding needs a request": {"subject": _manager, "action": "customers.export.decide", "resource": null, "reasons": ["RESOURCE_REQUIRED"]},
	"hr cannot decide exports": {"subject": _hr, "action": "customers.export.decide", "resource": {"requester_id": "e-m", "branch_id": "b-1"}, "reasons": ["ROLE_NOT_PERMITTED"]},
	"manager cannot run another's export": {"subject": _manager, "action": "customers.export.run", "resource": {"requester_id": "e-m2"}, "reasons": ["OUT_OF_SCOPE"]},
	"hr cannot run another's export": {"subject": _hr, "action": "customers.export.run", "resource": {"requester_id": "e-m"}, "reasons": ["OUT_OF_SCOPE"]},
	"running an export needs the request": {"subject": _hr, "action": "customers.export.run", "resource": null, "reasons": ["RESOURCE_REQUIRED"]},
	# audit, alerts
	"junior never reads the audit trail": {"subject": _junior, "action": "audit.read", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"manager updates a branch alert": {"subject": _manager, "action": "alerts.update", "resource": {"branch_id": "b-1"}, "allow": true},
	"manager cannot update another branch's alert": {"subject": _manager, "action": "alerts.update", "resource": {"branch_id": "b-9"}, "reasons": ["OUT_OF_SCOPE"]},
	"hr updates any alert": {"subject": _hr, "action": "alerts.update", "resource": {"branch_id": "b-9"}, "allow": true},
	"finance cannot read alerts": {"subject": _subjects.finance, "action": "alerts.read", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	# directory
	"junior reads a teammate's entry": {"subject": _junior, "action": "directory.read", "resource": {"employee_id": "e-x", "team_id": "t-1", "branch_id": "b-1"}, "allow": true},
	"junior cannot read another team's entry": {"subject": _junior, "action": "directory.read", "resource": {"employee_id": "e-y", "team_id": "t-2", "branch_id": "b-1"}, "reasons": ["OUT_OF_SCOPE"]},
	"junior without a team reads own entry": {"subject": object.union(_junior, {"team": null}), "action": "directory.read", "resource": {"employee_id": "e-j", "team_id": null, "branch_id": "b-1"}, "allow": true},
	"manager reads a branch entry": {"subject": _manager, "action": "directory.read", "resource": {"employee_id": "e-y", "team_id": "t-2", "branch_id": "b-1"}, "allow": true},
	"manager cannot read another branch's entry": {"subject": _manager, "action": "directory.read", "resource": {"employee_id": "e-z", "team_id": "t-9", "branch_id": "b-9"}, "reasons": ["OUT_OF_SCOPE"]},
	"hr writes teams anywhere": {"subject": _hr, "action": "directory.teams.write", "resource": {"branch_id": "b-9"}, "allow": true},
	"manager cannot write employees": {"subject": _manager, "action": "directory.employees.write", "resource": {"branch_id": "b-1"}, "reasons": ["ROLE_NOT_PERMITTED"]},
	"hr cannot write branches": {"subject": _hr, "action": "directory.branches.write", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"admin cannot resolve principals": {"subject": _subjects.admin, "action": "directory.resolve", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"admin cannot read customers": {"subject": _subjects.admin, "action": "customers.read", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"system cannot read customers": {"subject": _subjects.system, "action": "customers.read", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	# visits.plan
	"junior plans own visits": {"subject": _junior, "action": "visits.plan", "resource": _emp_junior, "allow": true},
	"junior cannot plan for a teammate": {"subject": _junior, "action": "visits.plan", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"senior cannot plan for a teammate": {"subject": _senior, "action": "visits.plan", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"a plan is owned through employee_id, not owner_id": {"subject": _junior, "action": "visits.plan", "resource": {"owner_id": "e-j", "team_id": "t-1", "branch_id": "b-1"}, "reasons": ["OUT_OF_SCOPE"]},
	"manager plans for a rep of the branch": {"subject": _manager, "action": "visits.plan", "resource": _emp_other_team, "allow": true},
	"manager cannot plan for another branch": {"subject": _manager, "action": "visits.plan", "resource": _emp_other_branch, "reasons": ["OUT_OF_SCOPE"]},
	"headquarters manager plans for any branch": {"subject": _hq_manager, "action": "visits.plan", "resource": _emp_other_branch, "allow": true},
	"planning needs the employee": {"subject": _junior, "action": "visits.plan", "resource": null, "reasons": ["RESOURCE_REQUIRED"]},
	"hr cannot plan visits": {"subject": _hr, "action": "visits.plan", "resource": _emp_junior, "reasons": ["ROLE_NOT_PERMITTED"]},
	"system cannot plan visits": {"subject": _subjects.system, "action": "visits.plan", "resource": _emp_junior, "reasons": ["ROLE_NOT_PERMITTED"]},
	# visits.read
	"junior reads own plan": {"subject": _junior, "action": "visits.read", "resource": _emp_junior, "allow": true},
	"junior cannot read a teammate's plan": {"subject": _junior, "action": "visits.read", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"senior cannot read a teammate's plan": {"subject": _senior, "action": "visits.read", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"manager cannot read another branch's plans": {"subject": _manager, "action": "visits.read", "resource": _emp_other_branch, "reasons": ["OUT_OF_SCOPE"]},
	"finance cannot read plans": {"subject": _subjects.finance, "action": "visits.read", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	# checkins.create
	"junior checks in": {"subject": _junior, "action": "checkins.create", "resource": _emp_junior, "allow": true},
	"manager checks in": {"subject": _manager, "action": "checkins.create", "resource": _emp_manager, "allow": true},
	"junior cannot check in for a teammate": {"subject": _junior, "action": "checkins.create", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"senior cannot check in for a teammate": {"subject": _senior, "action": "checkins.create", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"manager cannot check in for a rep of the branch": {"subject": _manager, "action": "checkins.create", "resource": _emp_junior, "reasons": ["OUT_OF_SCOPE"]},
	"headquarters manager cannot check in for anyone": {"subject": _hq_manager, "action": "checkins.create", "resource": _emp_other_branch, "reasons": ["OUT_OF_SCOPE"]},
	"a check-in is owned through employee_id, not owner_id": {"subject": _junior, "action": "checkins.create", "resource": {"owner_id": "e-j", "team_id": "t-1", "branch_id": "b-1"}, "reasons": ["OUT_OF_SCOPE"]},
	"checking in needs the employee": {"subject": _junior, "action": "checkins.create", "resource": null, "reasons": ["RESOURCE_REQUIRED"]},
	"hr cannot check in for a rep": {"subject": _hr, "action": "checkins.create", "resource": _emp_junior, "reasons": ["ROLE_NOT_PERMITTED"]},
	"admin cannot check in for a rep": {"subject": _subjects.admin, "action": "checkins.create", "resource": _emp_junior, "reasons": ["ROLE_NOT_PERMITTED"]},
	"finance cannot check in for a rep": {"subject": _subjects.finance, "action": "checkins.create", "resource": _emp_junior, "reasons": ["ROLE_NOT_PERMITTED"]},
	"system cannot check in for a rep": {"subject": _subjects.system, "action": "checkins.create", "resource": _emp_junior, "reasons": ["ROLE_NOT_PERMITTED"]},
	# checkins.read
	"junior reads own check-in": {"subject": _junior, "action": "checkins.read", "resource": _emp_junior, "allow": true},
	"junior cannot read a teammate's check-in": {"subject": _junior, "action": "checkins.read", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"senior cannot read a teammate's check-in": {"subject": _senior, "action": "checkins.read", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"manager reads a check-in of the branch": {"subject": _manager, "action": "checkins.read", "resource": _emp_other_team, "allow": true},
	"manager cannot read another branch's check-in": {"subject": _manager, "action": "checkins.read", "resource": _emp_other_branch, "reasons": ["OUT_OF_SCOPE"]},
	"hr reads any check-in": {"subject": _hr, "action": "checkins.read", "resource": _emp_other_branch, "allow": true},
	"finance cannot read a check-in": {"subject": _subjects.finance, "action": "checkins.read", "resource": _emp_junior, "reasons": ["ROLE_NOT_PERMITTED"]},
	"admin cannot read a check-in": {"subject": _subjects.admin, "action": "checkins.read", "resource": _emp_junior, "reasons": ["ROLE_NOT_PERMITTED"]},
	# photos, call logs, detectors, lookups
	"finance cannot upload photos": {"subject": _subjects.finance, "action": "photos.upload", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"system cannot upload photos": {"subject": _subjects.system, "action": "photos.upload", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"junior reads own call log": {"subject": _junior, "action": "calllogs.read", "resource": _emp_junior, "allow": true},
	"junior cannot read a teammate's call log": {"subject": _junior, "action": "calllogs.read", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"senior cannot read a teammate's call log": {"subject": _senior, "action": "calllogs.read", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"manager cannot read another branch's call log": {"subject": _manager, "action": "calllogs.read", "resource": _emp_other_branch, "reasons": ["OUT_OF_SCOPE"]},
	"system cannot read call logs": {"subject": _subjects.system, "action": "calllogs.read", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"manager cannot import call logs": {"subject": _manager, "action": "calllogs.import", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"manager cannot run detectors": {"subject": _manager, "action": "detectors.run", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"hr cannot match phones": {"subject": _hr, "action": "customers.match_phones", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"admin cannot list follow-up marks": {"subject": _subjects.admin, "action": "customers.follow_ups.marks", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
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

_customer_actions := {action | some action, _ in data.salesguard.tiers.actions; startswith(action, "customers.")}

test_junior_never_gets_team_or_branch_scope[action] if {
	some action in _customer_actions
	some resource in [null, _cust_junior, _cust_teammate, _cust_other_team]
	d := _decide(_junior, action, resource)
	every g in d.grants {
		g.scope.kind == "own"
	}
}

# Check-ins, call logs and visit plans are a rep's own, never the team's.
_own_only_reads := {"visits.read", "checkins.read", "calllogs.read"}

_emp_resources := [null, _emp_junior, _emp_senior, _emp_teammate, _emp_other_team, _emp_other_branch]

test_reps_read_only_their_own_field_records[note] if {
	some action in _own_only_reads
	some name in ["junior", "senior"]
	some i, resource in _emp_resources
	note := sprintf("%s by %s on resource %d", [action, name, i])
	subject := object.union(_subjects[name], {"hq": true})
	_own_only(_decide(subject, action, resource), subject, resource)
}

# A listing or the rep's own record: one unmasked own grant. Anyone else's: refused.
_record_employee(resource, subject) := subject.id if {
	resource == null
} else := resource.employee_id

_own_only(d, subject, resource) if {
	_record_employee(resource, subject) == subject.id
	d.grants == [{"scope": {"kind": "own", "employee_id": subject.id}, "masked_fields": []}]
}

_own_only(d, subject, resource) if {
	_record_employee(resource, subject) != subject.id
	d == {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": ["OUT_OF_SCOPE"]}
}

_all_roles := ["SALES_JUNIOR", "SALES_SENIOR", "MANAGER", "HR", "FINANCE", "ADMIN", "SYSTEM"]

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
	some role, _ in _tiers.max_rows
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
		object.union(subject, {"roles": ["SALES_JUNIOR", "SALES_SENIOR", "MANAGER", "HR", "FINANCE", "ADMIN", "SYSTEM"]}),
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
	"unknown role": {"subject": object.union(_junior, {"roles": ["SALES_INTERN"]}), "action": "customers.read", "resource": null},
	"no roles": {"subject": object.union(_junior, {"roles": []}), "action": "customers.read", "resource": null},
	"roles not a list": {"subject": object.union(_junior, {"roles": "MANAGER"}), "action": "customers.read", "resource": null},
	"role names are case sensitive": {"subject": object.union(_junior, {"roles": ["manager"]}), "action": "customers.read", "resource": null},
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

test_thresholds_from_data if {
	authz.thresholds.bulk_contact_access == {"count": 10, "window_seconds": 3600}
	authz.thresholds.field_visits == {"photo_missing_streak_days": 3, "unregistered_site_repeats": 3, "unregistered_site_window_days": 30, "unregistered_site_radius_m": 150}
	authz.thresholds.call_patterns.unregistered_number_repeats == 5
	authz.thresholds.call_patterns.long_call_factor == 3
}

# ---------------------------------------------------------------- tiers are data

test_headquarters_behaviour_is_data if {
	d := _decide(_hq_manager, "customers.read", null) with data.salesguard.tiers.headquarters.roles as []
	d.grants == [{"scope": {"kind": "branch", "branch_id": "b-hq"}, "masked_fields": []}]
}

test_max_rows_per_role_is_data if {
	d := _decide(_junior, "customers.read", null) with data.salesguard.tiers.max_rows.SALES_JUNIOR as 50
	d.max_rows == 50
}

test_max_rows_per_action_override if {
	d := _decide(_junior, "customers.read", null) with data.salesguard.tiers.actions["customers.read"].max_rows as {"SALES_JUNIOR": 20}
	d.max_rows == 20
}

test_max_rows_is_the_largest_over_roles if {
	d := _decide(object.union(_senior, {"roles": ["SALES_SENIOR", "FINANCE"]}), "customers.read", null)
	d.max_rows == 1000
}

test_tier_change_masks_junior_contact if {
	tier := {"grants": [{"scope": "own", "masked_fields": ["phone"]}]}
	d := _decide(_junior, "customers.read", null) with data.salesguard.tiers.actions["customers.read"].roles.SALES_JUNIOR as tier
	d.grants == [{"scope": {"kind": "own", "employee_id": "e-j"}, "masked_fields": ["phone"]}]
}

# ---------------------------------------------------------------- data sanity

_tiers := data.salesguard.tiers

test_every_role_has_max_rows[role] if {
	some action in _tiers.actions
	some role, _ in action.roles
	_tiers.max_rows[role] > 0
}

test_every_grant_scope_is_ordered[note] if {
	some name, action in _tiers.actions
	some role, cfg in action.roles
	some g in cfg.grants
	note := sprintf("%s %s %s", [name, role, g.scope])
	g.scope in _tiers.scope_order
	is_array(g.masked_fields)
}

test_read_only_field_sets_exist[note] if {
	some name, action in _tiers.actions
	some role, cfg in action.roles
	some rule in object.get(cfg, "read_only_fields", [])
	note := sprintf("%s %s", [name, role])
	count(_tiers.field_sets[rule.field_set]) > 0
	rule.reason != ""
}

test_core_fields if {
	{f | some f in _tiers.field_sets.core_customer} == {"name", "company", "phone", "email", "source", "source_detail", "first_contact_at"}
}
