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

# Orders (and their shipments) belong to the rep who submitted them.
_order_junior := {"submitted_by": "e-j", "team_id": "t-1", "branch_id": "b-1"}

_order_senior := {"submitted_by": "e-s", "team_id": "t-1", "branch_id": "b-1"}

_order_manager := {"submitted_by": "e-m", "team_id": null, "branch_id": "b-1"}

_order_teammate := {"submitted_by": "e-x", "team_id": "t-1", "branch_id": "b-1"}

_order_other_team := {"submitted_by": "e-y", "team_id": "t-2", "branch_id": "b-1"}

_order_other_branch := {"submitted_by": "e-z", "team_id": "t-9", "branch_id": "b-9"}

_step(order, step_role) := object.union(order, {"step_role": step_role})

_move(order, to) := object.union(order, {"to": to})

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
	"submitted_by": subject.id,
	"fields": ["notes"],
}

_resource_for("other_requester", subject) := {"requester_id": "e-other", "branch_id": subject.branch}

# An undecided alert about someone else of the subject's branch.
_resource_for("open_alert", subject) := {"employee_id": "e-other", "branch_id": subject.branch, "status": "OPEN"}

# Another rep's order in the subject's branch, at the approval step the subject can take.
_resource_for("order_step", subject) := _step(
	{"submitted_by": "e-other", "team_id": subject.team, "branch_id": subject.branch},
	_step_role_for(subject),
)

# The subject's own order, moved to the one status every permitted role may set.
_resource_for("own_order_move", subject) := _move(
	{"submitted_by": subject.id, "team_id": subject.team, "branch_id": subject.branch},
	_move_for(subject),
)

_step_role_for(subject) := "FINANCE" if {
	"FINANCE" in subject.roles
} else := "HQ_MANAGER" if {
	subject.hq == true
} else := "MANAGER"

_move_for(subject) := "CLOSED" if {
	"FINANCE" in subject.roles
} else := "CANCELLED"

# ---------------------------------------------------------------- role x action

# Every action, with the subjects allowed when the resource is inside their reach.
_matrix := {
	"customers.read": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager", "hr", "finance"}},
	"customers.register": {"resource": "own", "allowed": {"junior", "senior", "manager", "hq_manager"}},
	"customers.update": {"resource": "own", "allowed": {"junior", "senior", "manager", "hq_manager"}},
	"customers.follow_up": {"resource": "own", "allowed": {"junior", "senior", "manager", "hq_manager"}},
	"pool.read": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager", "hr"}},
	"pool.claim": {"resource": "own", "allowed": {"junior", "senior"}},
	"pool.sweep": {"resource": "null", "allowed": {"hr", "admin", "system"}},
	"customers.reassign": {"resource": "own", "allowed": {"manager", "hq_manager", "hr"}},
	"customers.export.request": {"resource": "null", "allowed": {"manager", "hq_manager", "hr"}},
	"customers.export.decide": {"resource": "other_requester", "allowed": {"manager", "hq_manager"}},
	"customers.export.run": {"resource": "own", "allowed": {"manager", "hq_manager", "hr"}},
	"audit.read": {"resource": "null", "allowed": {"manager", "hq_manager", "hr"}},
	"audit.verify": {"resource": "null", "allowed": {"hr", "admin"}},
	"timeline.read": {"resource": "null", "allowed": {"manager", "hq_manager", "hr"}},
	"alerts.read": {"resource": "null", "allowed": {"manager", "hq_manager", "hr", "finance"}},
	"risk.read": {"resource": "null", "allowed": {"manager", "hq_manager", "hr"}},
	"alerts.update": {"resource": "open_alert", "allowed": {"manager", "hq_manager", "hr"}},
	"directory.read": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager", "hr", "finance", "admin", "system"}},
	"directory.branches.write": {"resource": "null", "allowed": {"admin"}},
	"directory.teams.write": {"resource": "own", "allowed": {"hr", "admin"}},
	"directory.employees.write": {"resource": "own", "allowed": {"hr", "admin"}},
	"directory.resolve": {"resource": "null", "allowed": {"system"}},
	"customers.owners.sync": {"resource": "null", "allowed": {"system"}},
	"customers.handover": {"resource": "null", "allowed": {"hr", "admin"}},
	"jobs.run": {"resource": "null", "allowed": {"system"}},
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
	"alerts.targets": {"resource": "null", "allowed": {"system"}},
	"commissions.plans.write": {"resource": "null", "allowed": {"admin", "finance"}},
	"commissions.plans.read": {"resource": "null", "allowed": {"admin", "finance", "hr"}},
	"commissions.run": {"resource": "null", "allowed": {"finance", "system"}},
	"commissions.lock": {"resource": "null", "allowed": {"finance"}},
	"commissions.read": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager", "finance", "hr"}},
	"commissions.export": {"resource": "null", "allowed": {"finance"}},
	"commissions.freeze": {"resource": "null", "allowed": {"hr", "admin", "system"}},
	"orders.submit": {"resource": "own", "allowed": {"junior", "senior", "manager", "hq_manager"}},
	"customers.order": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager"}},
	"customers.criteria.share": {"resource": "own", "allowed": {"manager", "hq_manager", "hr"}},
	"customers.criteria.unshare": {"resource": "own", "allowed": {"manager", "hq_manager", "hr"}},
	"orders.read": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager", "hr", "finance"}},
	"orders.decide": {"resource": "order_step", "allowed": {"manager", "hq_manager", "finance"}},
	"orders.transition": {"resource": "own_order_move", "allowed": {"junior", "senior", "manager", "hq_manager", "finance"}},
	"orders.stream_valid": {"resource": "null", "allowed": {"system"}},
	"payments.record": {"resource": "null", "allowed": {"finance"}},
	"payments.reverse": {"resource": "null", "allowed": {"finance"}},
	"payments.import": {"resource": "null", "allowed": {"finance"}},
	"payments.upload": {"resource": "null", "allowed": {"finance"}},
	"payments.read": {"resource": "null", "allowed": {"manager", "hq_manager", "hr", "finance"}},
	"shipments.record": {"resource": "own", "allowed": {"manager", "hq_manager", "finance"}},
	"shipments.read": {"resource": "null", "allowed": {"junior", "senior", "manager", "hq_manager", "hr", "finance"}},
	"reconciliation.run": {"resource": "null", "allowed": {"finance", "system"}},
	"reconciliation.read": {"resource": "null", "allowed": {"manager", "hq_manager", "finance"}},
	"diversion.detect": {"resource": "null", "allowed": {"hr", "admin", "system"}},
	"visits.contact_facts": {"resource": "null", "allowed": {"system"}},
	"customers.facts": {"resource": "null", "allowed": {"system"}},
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

_expected_field_grants(action, name) := _expected_grants(_field_scopes, action, name)

_expected_grants(scopes, action, name) := [{"scope": scope, "masked_fields": masks}] if {
	kind := scopes[action][name]
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
	action in {"customers.match_phones", "customers.follow_ups.marks", "customers.facts"}
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

# The one scope each subject gets on the order, payment and shipment actions
# (absent: refused), on the matrix resource. Nothing is masked but customers.facts.
_order_scopes := {
	"orders.submit": {"junior": "own", "senior": "own", "manager": "own", "hq_manager": "own"},
	"customers.order": {"junior": "own", "senior": "team", "manager": "branch", "hq_manager": "all"},
	"orders.read": {"junior": "own", "senior": "own", "manager": "branch", "hq_manager": "all", "hr": "all", "finance": "all"},
	"orders.decide": {"manager": "branch", "hq_manager": "all", "finance": "all"},
	"orders.transition": {"junior": "own", "senior": "own", "manager": "branch", "hq_manager": "all", "finance": "all"},
	"orders.stream_valid": {"system": "all"},
	"payments.record": {"finance": "all"},
	"payments.reverse": {"finance": "all"},
	"payments.import": {"finance": "all"},
	"payments.upload": {"finance": "all"},
	"payments.read": {"manager": "branch", "hq_manager": "all", "hr": "all", "finance": "all"},
	"shipments.record": {"manager": "branch", "hq_manager": "all", "finance": "all"},
	"shipments.read": {"junior": "own", "senior": "own", "manager": "branch", "hq_manager": "all", "hr": "all", "finance": "all"},
	"reconciliation.run": {"finance": "all", "system": "all"},
	"reconciliation.read": {"manager": "branch", "hq_manager": "all", "finance": "all"},
	"diversion.detect": {"hr": "all", "admin": "all", "system": "all"},
	"visits.contact_facts": {"system": "all"},
	"customers.facts": {"system": "all"},
}

test_order_grants[note] if {
	some action, _ in _order_scopes
	some name, subject in _subjects
	note := sprintf("%s by %s", [action, name])
	d := _decide(subject, action, _resource_for(_matrix[action].resource, subject))
	d.grants == _expected_grants(_order_scopes, action, name)
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
	"hr reads all alerts but those about themselves": {
		"subject": _hr, "action": "alerts.read",
		"grants": [{"scope": {"kind": "all"}, "masked_fields": [], "excluded_subjects": ["e-hr"]}],
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
	"manager updates a branch alert": {"subject": _manager, "action": "alerts.update", "resource": {"branch_id": "b-1", "status": "OPEN"}, "allow": true},
	"manager cannot update another branch's alert": {"subject": _manager, "action": "alerts.update", "resource": {"branch_id": "b-9"}, "reasons": ["OUT_OF_SCOPE"]},
	"hr updates any alert": {"subject": _hr, "action": "alerts.update", "resource": {"branch_id": "b-9", "status": "OPEN"}, "allow": true},
	"admin cannot read alerts": {"subject": _subjects.admin, "action": "alerts.read", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
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
	# commission statements: reps their own, managers their branch
	"junior reads own statement": {"subject": _junior, "action": "commissions.read", "resource": _emp_junior, "allow": true},
	"junior cannot read a teammate's statement": {"subject": _junior, "action": "commissions.read", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"manager reads a statement of the branch": {"subject": _manager, "action": "commissions.read", "resource": _emp_teammate, "allow": true},
	"manager cannot read another branch's statement": {"subject": _manager, "action": "commissions.read", "resource": _emp_other_branch, "reasons": ["OUT_OF_SCOPE"]},
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
		"manager of b-1 who is also a rep": {"subject": object.union(_senior, {"roles": ["SALES_SENIOR", "MANAGER"]}), "reasons": ["OUT_OF_SCOPE"]},
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
	d == {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": ["TRANSITION_NOT_PERMITTED"]}
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
	"junior cannot submit for a teammate": {"subject": _junior, "action": "orders.submit", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"senior cannot submit for a teammate": {"subject": _senior, "action": "orders.submit", "resource": _emp_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"manager cannot submit for a rep of the branch": {"subject": _manager, "action": "orders.submit", "resource": _emp_junior, "reasons": ["OUT_OF_SCOPE"]},
	"headquarters manager cannot submit for anyone": {"subject": _hq_manager, "action": "orders.submit", "resource": _emp_other_branch, "reasons": ["OUT_OF_SCOPE"]},
	"a submission names the submitter as employee_id": {"subject": _junior, "action": "orders.submit", "resource": _order_junior, "reasons": ["OUT_OF_SCOPE"]},
	"submitting needs the submitter": {"subject": _junior, "action": "orders.submit", "resource": null, "reasons": ["RESOURCE_REQUIRED"]},
	"hr cannot submit orders": {"subject": _hr, "action": "orders.submit", "resource": _emp_junior, "reasons": ["ROLE_NOT_PERMITTED"]},
	"finance cannot submit orders": {"subject": _finance, "action": "orders.submit", "resource": _emp_junior, "reasons": ["ROLE_NOT_PERMITTED"]},
	"junior submits own order": {"subject": _junior, "action": "orders.submit", "resource": _emp_junior, "allow": true},
	"manager submits own order": {"subject": _manager, "action": "orders.submit", "resource": _emp_manager, "allow": true},
	# orders.read
	"junior cannot read a teammate's order": {"subject": _junior, "action": "orders.read", "resource": _order_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"senior cannot read a teammate's order": {"subject": _senior, "action": "orders.read", "resource": _order_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"a rep reads orders by submitter, not by customer owner": {"subject": _junior, "action": "orders.read", "resource": object.union(_order_teammate, {"owner_id": "e-j"}), "reasons": ["OUT_OF_SCOPE"]},
	"manager cannot read another branch's order": {"subject": _manager, "action": "orders.read", "resource": _order_other_branch, "reasons": ["OUT_OF_SCOPE"]},
	"admin cannot read orders": {"subject": _subjects.admin, "action": "orders.read", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"system cannot read orders": {"subject": _subjects.system, "action": "orders.read", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"junior reads own order": {"subject": _junior, "action": "orders.read", "resource": _order_junior, "allow": true},
	"manager reads an order of the branch": {"subject": _manager, "action": "orders.read", "resource": _order_other_team, "allow": true},
	"headquarters manager reads any order": {"subject": _hq_manager, "action": "orders.read", "resource": _order_other_branch, "allow": true},
	"finance reads any order": {"subject": _finance, "action": "orders.read", "resource": _order_other_branch, "allow": true},
	"hr reads any order": {"subject": _hr, "action": "orders.read", "resource": _order_other_branch, "allow": true},
	# orders.decide
	"manager cannot decide own order": {"subject": _manager, "action": "orders.decide", "resource": _step(_order_manager, "MANAGER"), "reasons": ["SELF_APPROVAL"]},
	"manager refused twice over": {"subject": _manager, "action": "orders.decide", "resource": _step(_order_manager, "HQ_MANAGER"), "reasons": ["SELF_APPROVAL", "STEP_ROLE_NOT_HELD"]},
	"headquarters manager cannot decide own order": {"subject": _hq_manager, "action": "orders.decide", "resource": _step({"submitted_by": "e-hq", "branch_id": "b-hq"}, "HQ_MANAGER"), "reasons": ["SELF_APPROVAL"]},
	"manager cannot decide a manager step of another branch": {"subject": _manager, "action": "orders.decide", "resource": _step(_order_other_branch, "MANAGER"), "reasons": ["OUT_OF_SCOPE"]},
	"manager cannot decide an hq step": {"subject": _manager, "action": "orders.decide", "resource": _step(_order_teammate, "HQ_MANAGER"), "reasons": ["STEP_ROLE_NOT_HELD"]},
	"manager cannot decide a finance step": {"subject": _manager, "action": "orders.decide", "resource": _step(_order_teammate, "FINANCE"), "reasons": ["STEP_ROLE_NOT_HELD"]},
	"headquarters manager cannot decide a finance step": {"subject": _hq_manager, "action": "orders.decide", "resource": _step(_order_other_branch, "FINANCE"), "reasons": ["STEP_ROLE_NOT_HELD"]},
	"finance cannot decide a manager step": {"subject": _finance, "action": "orders.decide", "resource": _step(_order_teammate, "MANAGER"), "reasons": ["STEP_ROLE_NOT_HELD"]},
	"manager and finance: the manager step of another branch stays out of scope": {"subject": _manager_finance, "action": "orders.decide", "resource": _step(_order_other_branch, "MANAGER"), "reasons": ["OUT_OF_SCOPE", "STEP_ROLE_NOT_HELD"]},
	"an unknown step role is refused": {"subject": _hq_manager, "action": "orders.decide", "resource": _step(_order_teammate, "DIRECTOR"), "reasons": ["UNKNOWN_STEP_ROLE"]},
	"step roles are case sensitive": {"subject": _manager, "action": "orders.decide", "resource": _step(_order_teammate, "manager"), "reasons": ["UNKNOWN_STEP_ROLE"]},
	"a decision names the step": {"subject": _finance, "action": "orders.decide", "resource": _order_teammate, "reasons": ["UNKNOWN_STEP_ROLE"]},
	"deciding needs the order": {"subject": _manager, "action": "orders.decide", "resource": null, "reasons": ["RESOURCE_REQUIRED"]},
	"senior cannot decide orders": {"subject": _senior, "action": "orders.decide", "resource": _step(_order_teammate, "MANAGER"), "reasons": ["ROLE_NOT_PERMITTED"]},
	"hr cannot decide orders": {"subject": _hr, "action": "orders.decide", "resource": _step(_order_teammate, "MANAGER"), "reasons": ["ROLE_NOT_PERMITTED"]},
	"admin cannot decide orders": {"subject": _subjects.admin, "action": "orders.decide", "resource": _step(_order_teammate, "MANAGER"), "reasons": ["ROLE_NOT_PERMITTED"]},
	"manager decides a manager step of the branch": {"subject": _manager, "action": "orders.decide", "resource": _step(_order_teammate, "MANAGER"), "allow": true},
	"headquarters manager decides a manager step of any branch": {"subject": _hq_manager, "action": "orders.decide", "resource": _step(_order_other_branch, "MANAGER"), "allow": true},
	"headquarters manager decides an hq step": {"subject": _hq_manager, "action": "orders.decide", "resource": _step(_order_other_branch, "HQ_MANAGER"), "allow": true},
	"finance decides a finance step of any branch": {"subject": _finance, "action": "orders.decide", "resource": _step(_order_other_branch, "FINANCE"), "allow": true},
	"manager and finance decide a finance step of another branch": {"subject": _manager_finance, "action": "orders.decide", "resource": _step(_order_other_branch, "FINANCE"), "allow": true},
	# orders.transition
	"junior cannot fulfil own order": {"subject": _junior, "action": "orders.transition", "resource": _move(_order_junior, "FULFILLED"), "reasons": ["TRANSITION_NOT_PERMITTED"]},
	"junior cannot cancel a teammate's order": {"subject": _junior, "action": "orders.transition", "resource": _move(_order_teammate, "CANCELLED"), "reasons": ["OUT_OF_SCOPE"]},
	"senior cannot cancel a teammate's order": {"subject": _senior, "action": "orders.transition", "resource": _move(_order_teammate, "CANCELLED"), "reasons": ["OUT_OF_SCOPE"]},
	"a move names the target status": {"subject": _junior, "action": "orders.transition", "resource": _order_junior, "reasons": ["TRANSITION_NOT_PERMITTED"]},
	"manager cannot approve through a transition": {"subject": _manager, "action": "orders.transition", "resource": _move(_order_teammate, "APPROVED"), "reasons": ["TRANSITION_NOT_PERMITTED"]},
	"manager cannot move another branch's order": {"subject": _manager, "action": "orders.transition", "resource": _move(_order_other_branch, "FULFILLED"), "reasons": ["OUT_OF_SCOPE"]},
	"manager cannot fulfil own order from a former branch": {"subject": _manager, "action": "orders.transition", "resource": _move({"submitted_by": "e-m", "branch_id": "b-9"}, "FULFILLED"), "reasons": ["TRANSITION_NOT_PERMITTED"]},
	"finance cannot fulfil an order": {"subject": _finance, "action": "orders.transition", "resource": _move(_order_teammate, "FULFILLED"), "reasons": ["TRANSITION_NOT_PERMITTED"]},
	"finance cannot cancel an order": {"subject": _finance, "action": "orders.transition", "resource": _move(_order_teammate, "CANCELLED"), "reasons": ["TRANSITION_NOT_PERMITTED"]},
	"moving needs the order": {"subject": _manager, "action": "orders.transition", "resource": null, "reasons": ["RESOURCE_REQUIRED"]},
	"hr cannot move orders": {"subject": _hr, "action": "orders.transition", "resource": _move(_order_teammate, "CANCELLED"), "reasons": ["ROLE_NOT_PERMITTED"]},
	"system cannot move orders": {"subject": _subjects.system, "action": "orders.transition", "resource": _move(_order_teammate, "CLOSED"), "reasons": ["ROLE_NOT_PERMITTED"]},
	"junior cancels own order": {"subject": _junior, "action": "orders.transition", "resource": _move(_order_junior, "CANCELLED"), "allow": true},
	"senior cancels own order": {"subject": _senior, "action": "orders.transition", "resource": _move(_order_senior, "CANCELLED"), "allow": true},
	"manager fulfils an order of the branch": {"subject": _manager, "action": "orders.transition", "resource": _move(_order_teammate, "FULFILLED"), "allow": true},
	"manager closes an order of the branch": {"subject": _manager, "action": "orders.transition", "resource": _move(_order_other_team, "CLOSED"), "allow": true},
	"manager cancels an order of the branch": {"subject": _manager, "action": "orders.transition", "resource": _move(_order_teammate, "CANCELLED"), "allow": true},
	"manager cancels own order from a former branch": {"subject": _manager, "action": "orders.transition", "resource": _move({"submitted_by": "e-m", "branch_id": "b-9"}, "CANCELLED"), "allow": true},
	"headquarters manager fulfils any order": {"subject": _hq_manager, "action": "orders.transition", "resource": _move(_order_other_branch, "FULFILLED"), "allow": true},
	"finance closes any order": {"subject": _finance, "action": "orders.transition", "resource": _move(_order_other_branch, "CLOSED"), "allow": true},
	# payments, shipments, reconciliation, lookups
	"manager cannot record payments": {"subject": _manager, "action": "payments.record", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"hr cannot reverse payments": {"subject": _hr, "action": "payments.reverse", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"manager cannot read another branch's payments": {"subject": _manager, "action": "payments.read", "resource": {"branch_id": "b-9"}, "reasons": ["OUT_OF_SCOPE"]},
	"junior cannot read payments": {"subject": _junior, "action": "payments.read", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"manager cannot record a shipment in another branch": {"subject": _manager, "action": "shipments.record", "resource": {"branch_id": "b-9"}, "reasons": ["OUT_OF_SCOPE"]},
	"recording a shipment needs the order": {"subject": _finance, "action": "shipments.record", "resource": null, "reasons": ["RESOURCE_REQUIRED"]},
	"senior cannot record shipments": {"subject": _senior, "action": "shipments.record", "resource": {"branch_id": "b-1"}, "reasons": ["ROLE_NOT_PERMITTED"]},
	"junior cannot read a teammate's shipments": {"subject": _junior, "action": "shipments.read", "resource": _order_teammate, "reasons": ["OUT_OF_SCOPE"]},
	"admin cannot read shipments": {"subject": _subjects.admin, "action": "shipments.read", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"manager cannot run reconciliation": {"subject": _manager, "action": "reconciliation.run", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"hr cannot read reconciliation": {"subject": _hr, "action": "reconciliation.read", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"manager cannot detect diversion": {"subject": _manager, "action": "diversion.detect", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"hr cannot read contact facts": {"subject": _hr, "action": "visits.contact_facts", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"finance cannot read customer facts": {"subject": _finance, "action": "customers.facts", "resource": null, "reasons": ["ROLE_NOT_PERMITTED"]},
	"manager reads branch payments": {"subject": _manager, "action": "payments.read", "resource": {"branch_id": "b-1"}, "allow": true},
	"manager records a shipment in the branch": {"subject": _manager, "action": "shipments.record", "resource": {"branch_id": "b-1"}, "allow": true},
	"finance records a shipment anywhere": {"subject": _finance, "action": "shipments.record", "resource": {"branch_id": "b-9"}, "allow": true},
	"junior reads own order's shipments": {"subject": _junior, "action": "shipments.read", "resource": _order_junior, "allow": true},
	"manager reads a branch reconciliation": {"subject": _manager, "action": "reconciliation.read", "resource": {"branch_id": "b-1"}, "allow": true},
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

# A grant's masks are its masked_fields plus the fields of its masked_field_sets;
# a grant naming an unknown set, or without masked_fields, is dropped (refused
# rather than shown unmasked).
_junior_read_tier(grant) := {"grants": [grant]}

test_masked_field_sets_resolve_to_their_fields if {
	tier := _junior_read_tier({"scope": "own", "masked_fields": ["name"], "masked_field_sets": ["contact"]})
	d := _decide(_junior, "customers.read", null)
		with data.salesguard.tiers.actions["customers.read"].roles.SALES_JUNIOR as tier
	d.grants == [{"scope": {"kind": "own", "employee_id": "e-j"}, "masked_fields": ["address", "email", "name", "phone"]}]
}

test_a_grant_naming_an_unknown_field_set_is_dropped if {
	tier := _junior_read_tier({"scope": "own", "masked_fields": [], "masked_field_sets": ["contacts"]})
	d := _decide(_junior, "customers.read", null)
		with data.salesguard.tiers.actions["customers.read"].roles.SALES_JUNIOR as tier
	d.allow == false
	d.reasons == ["NO_SCOPE"]
}

test_a_grant_without_masked_fields_is_dropped if {
	tier := _junior_read_tier({"scope": "own", "masked_field": ["phone"]})
	d := _decide(_junior, "customers.read", null)
		with data.salesguard.tiers.actions["customers.read"].roles.SALES_JUNIOR as tier
	d.allow == false
}

test_contact_masks_come_from_the_contact_field_set if {
	d := _decide(_subjects.hr, "customers.read", null)
	d.grants == [{"scope": {"kind": "all"}, "masked_fields": _contact}]
	sort(data.salesguard.tiers.field_sets.contact) == _contact
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
	d := _decide(tc.subject, "orders.decide", _step(_order_teammate, step_role)) with data.salesguard.tiers.actions["orders.decide"].step_roles.steps as tc.steps
	d.allow == tc.allow
}

test_transition_targets_are_data if {
	tier := {"grants": [{"scope": "own", "masked_fields": [], "values": ["CANCELLED", "CLOSED"]}]}
	d := _decide(_junior, "orders.transition", _move(_order_junior, "CLOSED")) with data.salesguard.tiers.actions["orders.transition"].roles.SALES_JUNIOR as tier
	d.allow == true
}

test_a_grant_without_values_moves_nothing if {
	tier := {"grants": [{"scope": "own", "masked_fields": []}]}
	d := _decide(_junior, "orders.transition", _move(_order_junior, "CANCELLED")) with data.salesguard.tiers.actions["orders.transition"].roles.SALES_JUNIOR as tier
	d.reasons == ["TRANSITION_NOT_PERMITTED"]
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

test_step_holders_have_a_tier[note] if {
	some name, action in _tiers.actions
	some step_role, holders in object.get(action, ["step_roles", "steps"], {})
	some holder in holders
	note := sprintf("%s %s %s", [name, step_role, holder.role])
	count(action.roles[holder.role].grants) > 0
}

# `values` means something only under a value_check, and there every grant needs them.
test_grant_values_match_value_checks[note] if {
	some name, action in _tiers.actions
	some role, cfg in action.roles
	some i, g in cfg.grants
	note := sprintf("%s %s %d", [name, role, i])
	has_check := object.get(action, "value_check", null) != null
	has_values := count(object.get(g, "values", [])) > 0
	has_check == has_values
}
