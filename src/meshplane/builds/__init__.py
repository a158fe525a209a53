"""Plan and execute builds: staleness by fingerprints, write-audit-publish, parallel by dependency."""

from meshplane.builds.execute import (
    Builder,
    BuildEvents,
    BuildResult,
    CheckOutcome,
    PortCheck,
    PortChecker,
    PortOutcome,
    ProductOutcome,
    Status,
    table_id_for,
)
from meshplane.builds.plan import BuildPlan, PlannedProduct, Reason, plan_build

__all__ = [
    "BuildEvents",
    "BuildPlan",
    "BuildResult",
    "Builder",
    "CheckOutcome",
    "PlannedProduct",
    "PortCheck",
    "PortChecker",
    "PortOutcome",
    "ProductOutcome",
    "Reason",
    "Status",
    "plan_build",
    "table_id_for",
]
