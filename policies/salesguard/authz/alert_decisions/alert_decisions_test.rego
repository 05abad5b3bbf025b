package salesguard.authz.alert_decisions_test

import data.salesguard.authz

# alerts.update: nobody decides an alert about themselves. Resolving a
# FAKE_DEAL_SUSPECTED as CLEARED (or dismissing it) releases withheld commission
# (M2), so a manager who submitted the deal, or HR named in an alert, must leave
# the decision to someone else: HR, or headquarters (a manager's case is for HR
# and headquarters: the branch manager's grant hides managers, which the service
# applies to the alert's employee, issue 11 item 7). A decided
# alert (RESOLVED, DISMISSED) is revised by HR only: a manager cannot overturn
# HR's CONFIRMED finding on their own team's deal. The resource's status is the
# alert's current one.

_manager := {"id": "e-m", "roles": ["MANAGER"], "team": null, "branch": "b-1", "hq": false}

_hr := {"id": "e-hr", "roles": ["HR"], "team": null, "branch": "b-hq", "hq": true}

_decide(subject, resource) := d if {
	d := authz.decision with input as {"subject": subject, "action": "alerts.update", "resource": resource}
}

test_manager_decides_a_branch_alert_about_someone_else if {
	d := _decide(_manager, {"branch_id": "b-1", "employee_id": "e-j", "status": "OPEN"})
	d.allow == true
}

test_manager_cannot_decide_an_alert_about_themselves if {
	d := _decide(_manager, {"branch_id": "b-1", "employee_id": "e-m", "status": "OPEN"})
	d.allow == false
	d.reasons == ["SELF_DECISION"]
}

test_hr_cannot_decide_an_alert_about_themselves if {
	d := _decide(_hr, {"branch_id": "b-hq", "employee_id": "e-hr", "status": "ACKNOWLEDGED"})
	d.allow == false
	d.reasons == ["SELF_DECISION"]
}

test_an_alert_about_nobody_is_decided if {
	d := _decide(_hr, {"branch_id": "b-1", "employee_id": null, "status": "OPEN"})
	d.allow == true
}

test_manager_decides_an_acknowledged_alert if {
	d := _decide(_manager, {"branch_id": "b-1", "employee_id": "e-j", "status": "ACKNOWLEDGED"})
	d.allow == true
}

test_manager_cannot_revise_a_decided_alert[status] if {
	some status in ["RESOLVED", "DISMISSED"]
	d := _decide(_manager, {"branch_id": "b-1", "employee_id": "e-j", "status": status})
	d.allow == false
	d.reasons == ["ALERT_ALREADY_DECIDED"]
}

test_hr_revises_a_decided_alert[status] if {
	some status in ["RESOLVED", "DISMISSED"]
	d := _decide(_hr, {"branch_id": "b-1", "employee_id": "e-j", "status": status})
	d.allow == true
}

# Another branch's decided alert stays out of scope: no hint that it exists.
test_another_branch_s_decided_alert_is_out_of_scope if {
	d := _decide(_manager, {"branch_id": "b-9", "employee_id": "e-x", "status": "RESOLVED"})
	d.reasons == ["OUT_OF_SCOPE"]
}

test_a_status_is_required if {
	d := _decide(_manager, {"branch_id": "b-1", "employee_id": "e-j"})
	d.reasons == ["ALERT_ALREADY_DECIDED"]
}
