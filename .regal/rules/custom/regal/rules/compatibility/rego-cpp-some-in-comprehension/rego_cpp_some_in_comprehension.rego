# METADATA
# description: |
#   rego-cpp (regopy, the embedded profile) rejects `some k, v in` inside a set or
#   array comprehension ("Invalid collection"): iterate with `some k in object.keys(x)`
#   or a helper rule instead. OPA accepts it, so only this rule catches it early.
# related_resources:
#   - description: policies/README.md, Checks
#     ref: https://github.com/microsoft/rego-cpp
# schemas:
#   - input: schema.regal.ast
package custom.regal.rules.compatibility["rego-cpp-some-in-comprehension"]

import data.regal.result

report contains violation if {
	some comprehension in _set_or_array_comprehensions
	some expr in comprehension.value.body
	some symbol in expr.terms.symbols
	_is_key_value_membership(symbol)
	violation := result.fail(rego.metadata.chain(), result.location(expr))
}

_set_or_array_comprehensions contains node if {
	walk(input.rules, [_, node])
	node.type in {"setcomprehension", "arraycomprehension"}
}

# `some k, v in x` parses as a call of internal.member_3 (k, v, x).
_is_key_value_membership(symbol) if {
	symbol.type == "call"
	symbol.value[0].value[0].value == "internal"
	symbol.value[0].value[1].value == "member_3"
}
