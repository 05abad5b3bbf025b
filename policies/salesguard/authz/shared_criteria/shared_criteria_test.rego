package salesguard.authz.shared_criteria_test

import data.salesguard.authz

# C12: a duplicate criterion value (a phone, an email, a name+company) stops blocking
# registrations once it is shared. What one team cannot arrange decides that:
# - data.salesguard.thresholds.shared_contact: refusals of distinct_reps
#   different reps of at least distinct_branches branches within window_days
#   (the services count them);
# - customers.criteria.share: a confirmation on the customer (resource: its owner,
#   team and branch). The service also refuses anyone of a branch involved (the
#   customer's, or a refused rep's), so it is HR or a headquarters manager in effect;
# - customers.criteria.unshare: making a value block again, a tightening, which the
#   customer's own managers may do too.

_customer := {"owner_id": "e-r", "team_id": "t-1", "branch_id": "b-1"}

_junior := {"id": "e-j", "roles": ["SALES_JUNIOR"], "team": "t-1", "branch": "b-1", "hq": false}

_senior := {"id": "e-s", "roles": ["SALES_SENIOR"], "team": "t-1", "branch": "b-1", "hq": false}

_manager := {"id": "e-m", "roles": ["MANAGER"], "team": null, "branch": "b-1", "hq": false}

_other_manager := {"id": "e-o", "roles": ["MANAGER"], "team": null, "branch": "b-2", "hq": false}

_hq_manager := {"id": "e-hq", "roles": ["MANAGER"], "team": null, "branch": "b-hq", "hq": true}

_hr := {"id": "e-hr", "roles": ["HR"], "team": null, "branch": "b-hq", "hq": true}

_finance := {"id": "e-f", "roles": ["FINANCE"], "team": null, "branch": "b-hq", "hq": true}

_decide(subject, action, resource) := d if {
	d := authz.decision with input as {"subject": subject, "action": action, "resource": resource}
}

_share_cases := {
	"the customer's manager is in scope (the service refuses the involved branch)": {
		"subject": _manager,
		"allow": true,
		"reasons": [],
	},
	"a headquarters manager confirms for any branch": {"subject": _hq_manager, "allow": true, "reasons": []},
	"HR confirms for any branch": {"subject": _hr, "allow": true, "reasons": []},
	"another branch's manager does not see the customer": {
		"subject": _other_manager,
		"allow": false,
		"reasons": ["OUT_OF_SCOPE"],
	},
	"a junior never confirms": {"subject": _junior, "allow": false, "reasons": ["ROLE_NOT_PERMITTED"]},
	"a senior never confirms": {"subject": _senior, "allow": false, "reasons": ["ROLE_NOT_PERMITTED"]},
	"finance never confirms": {"subject": _finance, "allow": false, "reasons": ["ROLE_NOT_PERMITTED"]},
}

test_who_may_confirm_or_undo[note] if {
	some note, tc in _share_cases
	some action in ["customers.criteria.share", "customers.criteria.unshare"]
	d := _decide(tc.subject, action, _customer)
	d.allow == tc.allow
	d.reasons == tc.reasons
}

test_a_confirmation_names_the_customer if {
	d := _decide(_hr, "customers.criteria.share", null)
	d.allow == false
	d.reasons == ["RESOURCE_REQUIRED"]
}
