"""What lets the gateway read an alert's employee link once for many subscribers
(gateway schema/alerts_subscription.py): the policy's ``directory.read`` decision depends
on the subject's ID only as the subject's own (the ``own`` scope, ``excluded_subjects``),
so two subjects alike but for their IDs read the same rows about anyone else."""

from __future__ import annotations

import itertools
import json
from typing import Any

from salesguard.policy import DECISION_PATH, EmbeddedPolicyEngine
from tests.harness import POLICIES
from tests.integration.test_policy_engines import CASE_ROLES

SELF = "<the subject>"


def as_own(value: Any, subject_id: str) -> Any:
    """The decision with the subject's ID written as SELF wherever it appears."""
    return json.loads(json.dumps(value).replace(json.dumps(subject_id), json.dumps(SELF)))


async def test_directory_reads_depend_on_the_subject_id_only_as_their_own() -> None:
    engine = EmbeddedPolicyEngine(POLICIES)
    compared = allowed = 0
    for roles, team, branch, hq in itertools.product(
        CASE_ROLES, (None, "t-1"), (None, "b-1"), (False, True)
    ):
        decisions = []
        for subject_id in ("peer-1", "peer-2"):
            subject = {"id": subject_id, "roles": roles, "team": team, "branch": branch, "hq": hq}
            policy_input = {"subject": subject, "action": "directory.read", "resource": None}
            decision = await engine.evaluate(DECISION_PATH, policy_input)
            decisions.append(as_own(decision, subject_id))
        assert decisions[0] == decisions[1], (roles, team, branch, hq, decisions)
        compared += 1
        allowed += bool(decisions[0]["allow"])
    assert compared == len(CASE_ROLES) * 8 and 0 < allowed < compared
