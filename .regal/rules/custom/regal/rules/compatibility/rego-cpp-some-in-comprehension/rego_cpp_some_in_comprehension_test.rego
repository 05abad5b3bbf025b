package custom.regal.rules.compatibility["rego-cpp-some-in-comprehension_test"]

import data.custom.regal.rules.compatibility["rego-cpp-some-in-comprehension"] as rule

_report(snippet) := violations if {
	module := regal.parse_module("p.rego", concat("\n", ["package p", snippet]))
	violations := rule.report with input as module
}

test_key_value_in_a_set_comprehension_is_reported if {
	count(_report("x := {k | some k, v in input.o; v > 1}")) == 1
}

test_key_value_in_an_array_comprehension_is_reported if {
	count(_report("x := [k | some k, _ in input.o]")) == 1
}

test_value_only_iteration_is_fine if {
	count(_report("x := [v | some v in input.o]")) == 0
}

test_key_value_in_an_object_comprehension_or_a_rule_body_is_fine if {
	count(_report("x := {k: v | some k, v in input.o}")) == 0
	count(_report("x contains k if {\n\tsome k, v in input.o\n\tv > 1\n}")) == 0
}
