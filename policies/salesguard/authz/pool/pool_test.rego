package salesguard.authz.pool_test

import data.salesguard.authz

# The customer pool (C11). Pooled customers belong to a branch and to nobody in it,
# so the pool is its own resource type (pool.*), apart from the customers.* actions
# where a junior never gets more than their own:
# - pool.read: reps of the branch browse the pool with contact fields
#   masked until they claim; the manager sees the branch unmasked; HR all, masked.
# - pool.claim: only reps (junior, senior) claim, and only from their own
#   branch's pool (resource {branch_id} of the customer). A manager hands pooled
#   customers out with customers.reassign instead.
# - pool.sweep: HR, ADMIN and the SYSTEM job run the neglect sweep.

_contact := ["address", "email", "phone"]

_junior := {"id": "e-j", "roles": ["SALES_JUNIOR"], "team": "t-1", "branch": "b-1", "hq": false}

_senior := {"id": "e-s", "roles": ["SALES_SENIOR"], "team": "t-1", "branch": "b-1", "hq": false}

_manager := {"id": "e-m", "roles": ["MANAGER"], "team": null, "branch": "b-1", "hq": false}

_hq_manager := {"id": "e-hq", "roles": ["MANAGER"], "team": null, "branch": "b-hq", "hq": true}

_hr := {"id": "e-hr", "roles": ["HR"], "team": null, "branch": "b-hq", "hq": true}

_finance := {"id": "e-f", "roles": ["FINANCE"], "team": null, "branch": "b-hq", "hq": true}

_admin := {"id": "e-a", "roles": ["ADMIN"], "team": null, "branch": "b-hq", "hq": true}

_system := {"id": "system:customers", "roles": ["SYSTEM"], "team": null, "branch": null, "hq": false}

_decide(subject, action, resource) := d if {
	d := authz.decision with input as {"subject": subject, "action": action, "resource": resource}
}

_branch(id) := {"kind": "branch", "branch_id": id}

_all := {"kind": "all"}

# A pooled customer: no owner, no team, its branch kept.
_pooled_b1 := {"owner_id": null, "team_id": null, "branch_id": "b-1"}

_pooled_b9 := {"owner_id": null, "team_id": null, "branch_id": "b-9"}

_read_cases := {
	"junior browses the branch pool, contact masked": {
		"subject": _junior,
		"grants": [{"scope": _branch("b-1"), "masked_fields": _contact}],
	},
	"senior browses the branch pool, contact masked": {
		"subject": _senior,
		"grants": [{"scope": _branch("b-1"), "masked_fields": _contact}],
	},
	"manager browses the branch pool unmasked": {
		"subject": _manager,
		"grants": [{"scope": _branch("b-1"), "masked_fields": []}],
	},
	"hq manager browses every pool": {
		"subject": _hq_manager,
		"grants": [{"scope": _all, "masked_fields": []}],
	},
	"hr browses every pool, contact masked": {
		"subject": _hr,
		"grants": [{"scope": _all, "masked_fields": _contact}],
	},
	"a rep without a branch gets no pool": {
		"subject": object.union(_junior, {"branch": null}),
		"grants": [],
	},
	"finance has no pool": {"subject": _finance, "grants": []},
	"admin has no pool": {"subject": _admin, "grants": []},
}

test_pool_read[note] if {
	some note, tc in _read_cases
	d := _decide(tc.subject, "pool.read", null)
	d.grants == tc.grants
	granted := count(tc.grants) > 0
	d.allow == granted
}

_claim_cases := {
	"junior claims from own branch": {"subject": _junior, "resource": _pooled_b1, "allow": true, "reasons": []},
	"senior claims from own branch": {"subject": _senior, "resource": _pooled_b1, "allow": true, "reasons": []},
	"junior cannot claim from another branch": {
		"subject": _junior,
		"resource": _pooled_b9,
		"allow": false,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"senior cannot claim from another branch": {
		"subject": _senior,
		"resource": _pooled_b9,
		"allow": false,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"manager does not claim": {
		"subject": _manager,
		"resource": _pooled_b1,
		"allow": false,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"hr does not claim": {"subject": _hr, "resource": _pooled_b1, "allow": false, "reasons": ["ROLE_NOT_PERMITTED"]},
	"system does not claim": {
		"subject": _system,
		"resource": _pooled_b1,
		"allow": false,
		"reasons": ["ROLE_NOT_PERMITTED"],
	},
	"a rep without a branch claims nothing": {
		"subject": object.union(_junior, {"branch": null}), "resource": _pooled_b1, "allow": false,
		"reasons": ["NO_SCOPE"],
	},
}

test_pool_claim[note] if {
	some note, tc in _claim_cases
	d := _decide(tc.subject, "pool.claim", tc.resource)
	d.allow == tc.allow
	d.reasons == tc.reasons
}

# The service decides once for the request (resource null) and filters by the grant.
test_pool_claim_listing_grant_is_the_branch if {
	d := _decide(_junior, "pool.claim", null)
	d.allow
	d.grants == [{"scope": _branch("b-1"), "masked_fields": []}]
}

_sweepers := {"hr": _hr, "admin": _admin, "system": _system}

_non_sweepers := {"junior": _junior, "senior": _senior, "manager": _manager, "finance": _finance}

test_pool_sweep_allowed[name] if {
	some name, subject in _sweepers
	d := _decide(subject, "pool.sweep", null)
	d.allow
	d.grants == [{"scope": _all, "masked_fields": []}]
}

test_pool_sweep_refused[name] if {
	some name, subject in _non_sweepers
	d := _decide(subject, "pool.sweep", null)
	not d.allow
	d.reasons == ["ROLE_NOT_PERMITTED"]
}
