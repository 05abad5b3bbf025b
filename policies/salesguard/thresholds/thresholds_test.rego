package salesguard.thresholds_test

# The detector thresholds and the risk model are data (data.salesguard.thresholds),
# read by the services; these tests keep them sane.

import data.salesguard.thresholds

test_thresholds_from_data if {
	thresholds.bulk_contact_access == {"count": 10, "window_seconds": 3600}
	thresholds.field_visits == {
		"photo_missing_streak_days": 3,
		"unregistered_site_repeats": 3,
		"unregistered_site_window_days": 30,
		"unregistered_site_radius_m": 150,
	}
	thresholds.call_patterns.unregistered_number_repeats == 5
	thresholds.call_patterns.long_call_factor == 3
	thresholds.diversion_risk == {"min_orders": 3, "silence_factor": 2, "history_days": 730}
	thresholds.fake_deal == {"grace_days": 7, "back_order_max_days": 60, "ship_within_days": 7}
	thresholds.approval_warning == {"min_warnings": 1, "warning_kinds": ["FAKE_DEAL_SUSPECTED", "SHIPMENT_OVERDUE"]}
}

test_pool_thresholds if {
	caps := thresholds.customer_pool.holding_caps
	caps.SALES_JUNIOR > 0
	caps.SALES_SENIOR >= caps.SALES_JUNIOR
	thresholds.shared_contact.distinct_reps >= 2
	thresholds.shared_contact.window_days > 0
}

# C3 beyond its keys: SIMILAR_CUSTOMER within radius_m of another owner's customer
# of the same company, a shop's door, not a street.
test_similar_customer_radius_is_a_shop if {
	thresholds.similar_customer.radius_m > 0
	thresholds.similar_customer.radius_m <= 500
	thresholds.risk.weights.SIMILAR_CUSTOMER > 0
}

# C12: refusals of distinct_reps different reps of at least distinct_branches
# branches within window_days make a contact detail shared.
test_one_team_cannot_reach_the_refusal_threshold if {
	# A junior, a senior and a manager of one branch are three reps of one branch.
	thresholds.shared_contact.distinct_branches >= 2
	thresholds.shared_contact.distinct_reps >= 2
	thresholds.shared_contact.window_days > 0
}

# The scoring model is data the services read: every weight a non-negative
# number, the bands ordered, the half-life within the lookback window.
test_risk_model_in_thresholds if {
	risk := thresholds.risk
	risk.half_life_days > 0
	risk.lookback_days >= risk.half_life_days
	risk.evidence_items > 0
	risk.levels.medium > 0
	risk.levels.high >= risk.levels.medium
	every kind, weight in risk.weights {
		is_string(kind)
		is_number(weight)
		weight >= 0
	}
}

# The patterns that are diversion itself outweigh the ones that are mostly
# carelessness or GPS noise (README "How risk is scored").
test_diversion_outweighs_noise if {
	weights := thresholds.risk.weights
	every strong in ["DIVERSION_RISK", "FAKE_DEAL_SUSPECTED", "UNREGISTERED_CUSTOMER"] {
		every weak in ["LATE_REGISTRATION", "LOCATION_MISMATCH", "NEW_DEVICE", "CUSTOMER_NEGLECTED"] {
			weights[strong] > 2 * weights[weak]
		}
	}
}
