package salesguard.authz_test

# Listings: the grants a listing (resource: null) gets, per subject and action.
# Fixtures are in authz_test.rego.

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
