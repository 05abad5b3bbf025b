package salesguard.authz.case_access_test

import data.salesguard.authz

# Who reads the case about an employee (issue 11 items 7 and 9, SPEC §2):
# alerts, risk scores and timelines.
#
# - Nobody reads the case about themselves, whatever their role (`own_case`):
#   a listing's grants carry `excluded_subjects: [<subject>]`, a resource naming
#   the subject is refused with OWN_CASE. HR's own case is for other HR.
# - A manager's case is for HR and headquarters (their superior): a branch
#   manager's grant carries `hidden_subject_roles: ["MANAGER"]`, which the
#   headquarters widening drops. Deciding (alerts.update) follows reading.
# - FINANCE reads deal, payment and commission alerts only: its grant lists
#   the `kinds` (the orders service's O3, O5 and O6 kinds, which are also the
#   ones that withhold commission, M2).

_manager := {"id": "e-m", "roles": ["MANAGER"], "team": null, "branch": "b-1", "hq": false}

_hq_manager := {"id": "e-hq", "roles": ["MANAGER"], "team": null, "branch": "b-hq", "hq": true}

_hr := {"id": "e-hr", "roles": ["HR"], "team": null, "branch": "b-hq", "hq": true}

_finance := {"id": "e-f", "roles": ["FINANCE"], "team": null, "branch": "b-hq", "hq": true}

_finance_kinds := [
	"ATTRIBUTION_MISMATCH",
	"DIVERSION_RISK",
	"FAKE_DEAL_SUSPECTED",
	"PAYER_MISMATCH",
	"SHIPMENT_OVERDUE",
	"SOURCE_CONFLICT",
	"UNREGISTERED_CUSTOMER",
]

_case_actions := ["alerts.read", "risk.read", "timeline.read"]

_decide(subject, action, resource) := d if {
	d := authz.decision with input as {"subject": subject, "action": action, "resource": resource}
}

_with_roles(subject, roles) := object.union(subject, {"roles": roles})

# ---------------------------------------------------------------- own case

# Every role that reads cases leaves its own out of every grant.
_case_readers := {
	"alerts.read": [_manager, _hq_manager, _hr, _finance],
	"risk.read": [_manager, _hq_manager, _hr],
	"timeline.read": [_manager, _hq_manager, _hr],
}

test_no_grant_covers_the_own_case[note] if {
	some action, subjects in _case_readers
	some subject in subjects
	note := sprintf("%s %s", [action, subject.id])
	d := _decide(subject, action, null)
	d.allow == true
	count(d.grants) > 0
	every grant in d.grants {
		grant.excluded_subjects == [subject.id]
	}
}

# A resource naming the subject is refused, for the actions that take one.
test_own_case_named_is_refused[note] if {
	some note, subject in {"manager": _manager, "hq_manager": _hq_manager, "hr": _hr}
	own := {"employee_id": subject.id, "team_id": subject.team, "branch_id": subject.branch}
	d := _decide(subject, "timeline.read", own)
	d == {"allow": false, "grants": [], "max_rows": 0, "requires_approval": false, "reasons": ["OWN_CASE"]}
}

test_someone_else_named_is_read if {
	d := _decide(_manager, "timeline.read", {"employee_id": "e-x", "team_id": "t-1", "branch_id": "b-1"})
	d.allow == true
}

# Nothing to exclude for a subject without an ID (and nothing is granted to it by scope own).
test_no_exclusion_without_a_subject_id if {
	d := _decide(object.union(_hr, {"id": ""}), "alerts.read", null)
	d.grants == [{"scope": {"kind": "all"}, "masked_fields": []}]
}

# Actions about other things carry no row limits.
test_other_actions_carry_no_row_limits if {
	d := _decide(_manager, "customers.read", null)
	d.grants == [{"scope": {"kind": "branch", "branch_id": "b-1"}, "masked_fields": []}]
}

# Deciding keeps its own reason for the own alert.
test_deciding_own_alert_stays_self_decision if {
	d := _decide(_manager, "alerts.update", {"branch_id": "b-1", "employee_id": "e-m", "status": "OPEN"})
	d.reasons == ["SELF_DECISION"]
}

# ---------------------------------------------------------------- managers' cases

test_branch_manager_leaves_managers_to_superiors[action] if {
	some action in _case_actions
	d := _decide(_manager, action, null)
	d.grants == [{
		"scope": {"kind": "branch", "branch_id": "b-1"}, "masked_fields": [],
		"excluded_subjects": ["e-m"], "hidden_subject_roles": ["MANAGER"],
	}]
}

test_headquarters_manager_reads_branch_managers[action] if {
	some action in _case_actions
	d := _decide(_hq_manager, action, null)
	d.grants == [{"scope": {"kind": "all"}, "masked_fields": [], "excluded_subjects": ["e-hq"]}]
}

test_branch_manager_decides_with_managers_hidden if {
	d := _decide(_manager, "alerts.update", {"branch_id": "b-1", "employee_id": "e-j", "status": "OPEN"})
	d.allow == true
	d.grants == [{
		"scope": {"kind": "branch", "branch_id": "b-1"},
		"masked_fields": [],
		"hidden_subject_roles": ["MANAGER"],
	}]
}

# HR who is also a manager reads every case but their own: the all grant hides
# nobody, so the branch grant is redundant.
test_hr_manager_reads_managers if {
	d := _decide(_with_roles(_manager, ["HR", "MANAGER"]), "alerts.read", null)
	d.grants == [{"scope": {"kind": "all"}, "masked_fields": [], "excluded_subjects": ["e-m"]}]
}

# ---------------------------------------------------------------- finance

test_finance_reads_deal_payment_commission_kinds if {
	d := _decide(_finance, "alerts.read", null)
	d == {
		"allow": true,
		"grants": [{
			"scope": {"kind": "all"},
			"masked_fields": [],
			"kinds": _finance_kinds,
			"excluded_subjects": ["e-f"],
		}],
		"max_rows": 1000, "requires_approval": false, "reasons": [],
	}
}

# The finance kinds are alert kinds the orders service raises (the risk model weighs them).
test_finance_kinds_are_known_kinds if {
	weights := data.salesguard.thresholds.risk.weights
	every kind in _finance_kinds {
		weights[kind] > 0
	}
}

test_finance_still_refused_risk_and_timelines[action] if {
	some action in ["risk.read", "timeline.read", "alerts.update"]
	d := _decide(_finance, action, null)
	d.reasons == ["ROLE_NOT_PERMITTED"]
}

test_finance_covers_a_resource_of_its_kinds[kind] if {
	some kind in _finance_kinds
	d := _decide(_finance, "alerts.read", {"kind": kind, "branch_id": "b-1"})
	d.allow == true
}

test_finance_refused_other_kinds[kind] if {
	some kind in [
		"LATE_REGISTRATION",
		"PHOTO_REUSED",
		"BULK_CONTACT_ACCESS",
		"DUPLICATE_CUSTOMER_CLAIM",
		"MOCK_LOCATION",
	]
	d := _decide(_finance, "alerts.read", {"kind": kind, "branch_id": "b-1"})
	d.reasons == ["OUT_OF_SCOPE"]
}

# A kind-limited grant never covers a resource that does not say its kind.
test_finance_refused_a_resource_without_kind if {
	d := _decide(_finance, "alerts.read", {"branch_id": "b-1"})
	d.reasons == ["OUT_OF_SCOPE"]
}

# A manager who is also in finance: every kind in the branch, deal kinds elsewhere.
test_finance_manager_keeps_both_grants if {
	d := _decide(_with_roles(_manager, ["FINANCE", "MANAGER"]), "alerts.read", null)
	d.grants == [
		{
			"scope": {"kind": "branch", "branch_id": "b-1"}, "masked_fields": [],
			"excluded_subjects": ["e-m"], "hidden_subject_roles": ["MANAGER"],
		},
		{"scope": {"kind": "all"}, "masked_fields": [], "kinds": _finance_kinds, "excluded_subjects": ["e-m"]},
	]
}

# HR in finance reads every kind: HR's grant lists none.
test_finance_hr_reads_every_kind if {
	d := _decide(_with_roles(_hr, ["FINANCE", "HR"]), "alerts.read", null)
	d.grants == [{"scope": {"kind": "all"}, "masked_fields": [], "excluded_subjects": ["e-hr"]}]
}

# ---------------------------------------------------------------- merging, as data

_merge_tiers := object.union(data.salesguard.tiers, {"actions": {"x.read": {"roles": {
	"A": {"grants": [{
		"scope": "branch",
		"masked_fields": [],
		"kinds": ["K2", "K1"],
		"hidden_subject_roles": ["MANAGER", "HR"],
	}]},
	"B": {"grants": [{"scope": "branch", "masked_fields": [], "kinds": ["K3", "K1"], "hidden_subject_roles": ["HR"]}]},
	"C": {"grants": [{"scope": "branch", "masked_fields": []}]},
	"D": {"grants": [{"scope": "all", "masked_fields": [], "kinds": ["K1"]}]},
	"E": {"grants": [{
		"scope": "all",
		"masked_fields": [],
		"kinds": ["K1", "K2", "K3"],
		"hidden_subject_roles": ["HR"],
	}]},
}}}})

_b1 := {"kind": "branch", "branch_id": "b-1"}

_merge_cases := {
	"kinds unite, hidden roles intersect": {
		"roles": ["A", "B"],
		"grants": [{"scope": _b1, "masked_fields": [], "kinds": ["K1", "K2", "K3"], "hidden_subject_roles": ["HR"]}],
	},
	"a grant listing no kinds covers every kind and hides nobody": {
		"roles": ["A", "C"],
		"grants": [{"scope": _b1, "masked_fields": []}],
	},
	"a wider grant of fewer kinds keeps the narrower": {
		"roles": ["A", "D"],
		"grants": [
			{"scope": _b1, "masked_fields": [], "kinds": ["K1", "K2"], "hidden_subject_roles": ["HR", "MANAGER"]},
			{"scope": {"kind": "all"}, "masked_fields": [], "kinds": ["K1"]},
		],
	},
	"a wider grant of more kinds hiding no more makes the narrower redundant": {
		"roles": ["B", "E"],
		"grants": [{
			"scope": {"kind": "all"}, "masked_fields": [], "kinds": ["K1", "K2", "K3"],
			"hidden_subject_roles": ["HR"],
		}],
	},
	"a wider grant hiding more keeps the narrower": {
		"roles": ["C", "E"],
		"grants": [
			{"scope": _b1, "masked_fields": []},
			{
				"scope": {"kind": "all"}, "masked_fields": [], "kinds": ["K1", "K2", "K3"],
				"hidden_subject_roles": ["HR"],
			},
		],
	},
}

test_row_limits_merge[note] if {
	some note, tc in _merge_cases
	subject := {"id": "", "roles": tc.roles, "team": null, "branch": "b-1", "hq": false}
	policy_input := {"subject": subject, "action": "x.read", "resource": null}
	d := authz.decision with input as policy_input with data.salesguard.tiers as _merge_tiers
	d.grants == tc.grants
}
