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
	"directory.read": {
		"resource": "null",
		"allowed": {"junior", "senior", "manager", "hq_manager", "hr", "finance", "admin", "system"},
	},
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
	"orders.transition": {
		"resource": "own_order_move",
		"allowed": {"junior", "senior", "manager", "hq_manager", "finance"},
	},
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
	"orders.read": {
		"junior": "own",
		"senior": "own",
		"manager": "branch",
		"hq_manager": "all",
		"hr": "all",
		"finance": "all",
	},
	"orders.decide": {"manager": "branch", "hq_manager": "all", "finance": "all"},
	"orders.transition": {"junior": "own", "senior": "own", "manager": "branch", "hq_manager": "all", "finance": "all"},
	"orders.stream_valid": {"system": "all"},
	"payments.record": {"finance": "all"},
	"payments.reverse": {"finance": "all"},
	"payments.import": {"finance": "all"},
	"payments.upload": {"finance": "all"},
	"payments.read": {"manager": "branch", "hq_manager": "all", "hr": "all", "finance": "all"},
	"shipments.record": {"manager": "branch", "hq_manager": "all", "finance": "all"},
	"shipments.read": {
		"junior": "own",
		"senior": "own",
		"manager": "branch",
		"hq_manager": "all",
		"hr": "all",
		"finance": "all",
	},
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
