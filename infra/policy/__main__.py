"""The policy pack's entry point. Only the PolicyPack call lives here: constructing one starts a gRPC
server and blocks forever, so nothing may import this module (tests import infra.policy.policies)."""

import sys
from pathlib import Path

# The CLI runs the pack from infra/policy/; the policies import the `infra` package from the repo root.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402  # after the sys.path entry

from infra.policy.policies import PACK_NAME, make_policies  # noqa: E402

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=make_policies())
