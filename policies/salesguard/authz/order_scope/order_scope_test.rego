package salesguard.authz.order_scope_test

import data.salesguard.authz

# SPEC §2: a rep submits orders only for customers they may read. The customers
# service answers "may this person order for customer X" with customers.order (its
# scope as the SQL filter), so its grants must never reach wider than customers.read:
# the security team may narrow it (say, to own customers only), never widen it.

_tiers := data.salesguard.tiers

_rank[kind] := rank if {
	some rank, kind in _tiers.scope_order
}

_read_reach(role) := {_rank[g.scope] | some g in _tiers.actions["customers.read"].roles[role].grants}

test_order_scope_never_reaches_past_read[role] if {
	some role, cfg in _tiers.actions["customers.order"].roles
	reach := _read_reach(role)
	every g in cfg.grants {
		some read in reach
		read >= _rank[g.scope]
	}
}

test_every_role_that_submits_orders_may_order_for_some_customer[role] if {
	some role, _ in _tiers.actions["orders.submit"].roles
	count(_tiers.actions["customers.order"].roles[role].grants) > 0
}

_subject(roles, team, branch, hq) := {"id": "e-1", "roles": roles, "team": team, "branch": branch, "hq": hq}

_scopes(subject) := [g.scope | some g in d.grants] if {
	d := authz.decision with input as {"subject": subject, "action": "customers.order", "resource": null}
}

test_a_junior_orders_for_own_customers_only if {
	_scopes(_subject(["SALES_JUNIOR"], "t-1", "b-1", false)) == [{"kind": "own", "employee_id": "e-1"}]
}

test_a_senior_orders_for_the_teams_customers if {
	_scopes(_subject(["SALES_SENIOR"], "t-1", "b-1", false)) == [{"kind": "team", "team_id": "t-1"}]
}

test_a_manager_orders_for_the_branch_and_hq_for_all if {
	_scopes(_subject(["MANAGER"], null, "b-1", false)) == [{"kind": "branch", "branch_id": "b-1"}]
	_scopes(_subject(["MANAGER"], null, "b-hq", true)) == [{"kind": "all"}]
}

test_nobody_else_orders_for_customers if {
	every roles in [["HR"], ["FINANCE"], ["ADMIN"], ["SYSTEM"]] {
		_scopes(_subject(roles, null, "b-hq", true)) == []
	}
}
