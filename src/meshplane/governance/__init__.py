"""Federated computational governance: policies as code, evaluated at check, build and query time.

See docs/governance.md for the policy file format, the input documents and the built-in pack.
"""

from meshplane.governance.engine import blocking, evaluate, evaluate_query, render_message
from meshplane.governance.inputs import SubjectDoc, build_inputs, build_query_input
from meshplane.governance.loading import (
    ENTRY_POINT_GROUP,
    PolicySet,
    load_policies,
    load_policy_file,
    load_waivers,
    pack_files,
    waivers_from_records,
)
from meshplane.governance.model import (
    SCHEMA_VERSION,
    Effect,
    LoadedPolicy,
    Point,
    PolicyModel,
    PolicyScope,
    PythonPolicy,
    QueryDecision,
    Subject,
    Violation,
    Waiver,
)
from meshplane.governance.report import GovernanceReport
from meshplane.governance.testing import PolicyTestResult, run_policy_tests

__all__ = [
    "ENTRY_POINT_GROUP",
    "SCHEMA_VERSION",
    "Effect",
    "GovernanceReport",
    "LoadedPolicy",
    "Point",
    "PolicyModel",
    "PolicyScope",
    "PolicySet",
    "PolicyTestResult",
    "PythonPolicy",
    "QueryDecision",
    "Subject",
    "SubjectDoc",
    "Violation",
    "Waiver",
    "blocking",
    "build_inputs",
    "build_query_input",
    "evaluate",
    "evaluate_query",
    "load_policies",
    "load_policy_file",
    "load_waivers",
    "pack_files",
    "render_message",
    "run_policy_tests",
    "waivers_from_records",
]
