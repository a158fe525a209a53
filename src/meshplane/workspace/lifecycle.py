"""Lifecycle use cases: retention on every build, and ``meshplane maintain`` (retention, compaction of small files,
snapshot expiry, orphan files).

Retention comes from the contract (:mod:`meshplane.spec.retention`); how much history each table keeps comes
from ``platform.history`` in mesh.yaml. Every retention delete and every expiry is written to the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from meshplane.builds.execute import table_contract, table_id_for
from meshplane.errors import MeshError
from meshplane.graph import MeshGraph
from meshplane.spec.retention import retention_of
from meshplane.storage.lifecycle import (
    CompactionReport,
    ExpiryReport,
    RetentionReport,
    compact_files,
    delete_before,
    expire_snapshots,
)
from meshplane.types import Address
from meshplane.workspace.platform import Platform

__all__ = ["LifecycleService", "MaintenanceReport", "PortMaintenance"]

log = logging.getLogger(__name__)
PLATFORM_ACTOR = "meshplane"


@dataclass(frozen=True)
class PortMaintenance:
    port: Address
    retention: RetentionReport | None = None
    retention_problem: str | None = None  # declared but not enforceable (no dated column)
    expiry: ExpiryReport | None = None
    error: str | None = None
    compaction: CompactionReport | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "port": str(self.port),
            "retention": None
            if self.retention is None
            else {
                "cutoff": self.retention.cutoff.isoformat(),
                "deleted_rows": self.retention.deleted_rows,
                "kept_rows": self.retention.kept_rows,
                "snapshot_id": self.retention.snapshot_id,
            },
            "retention_problem": self.retention_problem,
            "expiry": None
            if self.expiry is None
            else {
                "expired_snapshots": list(self.expiry.expired),
                "retained_snapshots": self.expiry.retained,
                "removed_files": self.expiry.removed_files,
            },
            "compaction": None
            if self.compaction is None
            else {
                "files_before": self.compaction.files_before,
                "files_after": self.compaction.files_after,
                "rewritten_files": self.compaction.rewritten,
                "written_files": self.compaction.written,
                "rows": self.compaction.rows,
                "snapshot_id": self.compaction.snapshot_id,
            },
            "error": self.error,
        }


@dataclass(frozen=True)
class MaintenanceReport:
    ports: tuple[PortMaintenance, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(p.error is None for p in self.ports)


class LifecycleService:
    def __init__(self, graph: MeshGraph, platform: Platform) -> None:
        self.graph = graph
        self.platform = platform

    def _ports(self, products: Iterable[Address]) -> Iterable[tuple[Address, Any]]:
        for product in products:
            spec = self.graph.products[product]
            for port in spec.output_ports:
                yield Address(product.domain, product.product, port.name), port

    def enforce_retention(
        self, products: Iterable[Address], *, now: datetime | None = None, actor: str = PLATFORM_ACTOR
    ) -> list[PortMaintenance]:
        """Delete rows past each port's retention, one snapshot per port that had any (audited)."""
        moment = now or datetime.now(UTC)
        results = []
        for address, port in self._ports(products):
            try:
                retention = retention_of(port.contract)
            except ValueError as error:
                results.append(PortMaintenance(address, retention_problem=str(error)))
                continue
            if retention is None:
                continue
            if retention.column is None:
                results.append(PortMaintenance(address, retention_problem=retention.problem))
                continue
            table = table_id_for(address, port.major)
            run_id = "retention-" + moment.strftime("%Y%m%dT%H%M%S%f")
            try:
                report = delete_before(
                    self.platform.tables,
                    table,
                    retention.column,
                    moment - retention.period,
                    run_id=run_id,
                    contract=table_contract(port),
                )
            except MeshError as error:
                results.append(PortMaintenance(address, error=str(error)))
                continue
            if report.snapshot_id is not None:
                self.platform.catalog.writer.append_audit(
                    actor,
                    "retention",
                    str(address),
                    {"retention": retention.declared, "column": retention.column,
                     "cutoff": report.cutoff.isoformat(), "deleted_rows": report.deleted_rows,
                     "snapshot_id": report.snapshot_id},
                )  # fmt: skip
            results.append(PortMaintenance(address, retention=report))
        return results

    def maintain(
        self,
        products: Iterable[Address],
        *,
        now: datetime | None = None,
        actor: str = PLATFORM_ACTOR,
        min_file_age: float = 3600.0,
    ) -> MaintenanceReport:
        """Retention, compaction of small files, then snapshot expiry and removal of unreferenced files, for each
        port of ``products``."""
        moment = now or datetime.now(UTC)
        selected = list(products)
        retention = {r.port: r for r in self.enforce_retention(selected, now=moment, actor=actor)}
        history = self.graph.spec.config.platform.history
        reports = []
        for address, port in self._ports(selected):
            done = retention.get(address, PortMaintenance(address))
            if done.error is not None:
                reports.append(done)
                continue
            try:
                compaction = self._compact(address, port, moment, actor)
            except MeshError as error:
                reports.append(PortMaintenance(address, done.retention, done.retention_problem, error=str(error)))
                continue
            done = PortMaintenance(address, done.retention, done.retention_problem, compaction=compaction)
            try:
                expiry = expire_snapshots(
                    self.platform.tables,
                    table_id_for(address, port.major),
                    keep_last=history.keep_snapshots,
                    keep_for=timedelta(days=history.keep_days),
                    now=moment,
                    min_file_age=min_file_age,
                )
            except MeshError as error:
                reports.append(
                    PortMaintenance(
                        address, done.retention, done.retention_problem, error=str(error), compaction=compaction
                    )
                )
                continue
            if expiry.expired or expiry.removed_files:
                self.platform.catalog.writer.append_audit(
                    actor,
                    "expire_snapshots",
                    str(address),
                    {"expired": list(expiry.expired), "retained": expiry.retained,
                     "removed_files": expiry.removed_files},
                )  # fmt: skip
            reports.append(
                PortMaintenance(address, done.retention, done.retention_problem, expiry, compaction=compaction)
            )
        return MaintenanceReport(tuple(reports))

    def _compact(self, address: Address, port: Any, moment: datetime, actor: str) -> CompactionReport:
        """Rewrite the port's small files into larger ones once ``platform.compaction.min_files`` of them pile up
        (audited like retention)."""
        settings = self.graph.spec.config.platform.compaction
        report = compact_files(
            self.platform.tables,
            table_id_for(address, port.major),
            target_bytes=int(settings.target_file_mb * 1024 * 1024),
            min_files=settings.min_files,
            run_id="compaction-" + moment.strftime("%Y%m%dT%H%M%S%f"),
            contract=table_contract(port),
        )
        if report.snapshot_id is not None:
            self.platform.catalog.writer.append_audit(
                actor,
                "compaction",
                str(address),
                {"files_before": report.files_before, "files_after": report.files_after,
                 "rewritten_files": report.rewritten, "rows": report.rows, "snapshot_id": report.snapshot_id},
            )  # fmt: skip
        return report
