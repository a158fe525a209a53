"""OpenLineage run events for builds (and, when configured, consumer queries), sent with openlineage-python.

One job per product (``<domain>.<product>``) and one dataset per port (named by its address; sources by their
contract id), all in one namespace per mesh (``meshplane://<mesh>`` unless mesh.yaml names another). Events
carry schema, ownership, documentation, data-source and column-lineage facets, the contract checks as
data-quality assertions, and the error of a failed or refused run.

openlineage-python (about 0.4 s to import) is loaded only when a transport is configured, through
``openlineage:`` in mesh.yaml or the standard ``OPENLINEAGE_*`` variables: a build without one pays for a
dictionary lookup. Events are sent from one background thread, so a slow lineage server never holds a build;
:meth:`LineageEmitter.flush` waits (bounded) for the queue before the process exits.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from meshplane.graph import MeshGraph
from meshplane.lineage.redaction import redact
from meshplane.spec import ColumnSpec, ContractSpec, ProductSpec
from meshplane.types import Address

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, OutputDataset, RunEvent

__all__ = ["Assertion", "LineageEmitter", "RunState", "lineage_configured", "namespace_of", "run_uuid"]

log = logging.getLogger(__name__)

PRODUCER = "https://github.com/meshplane/meshplane"
RunState = Literal["START", "COMPLETE", "FAIL", "ABORT"]
_ENV_KEYS = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG")


def lineage_configured(graph: MeshGraph, environ: Mapping[str, str] = os.environ) -> bool:
    """True when events should be sent: mesh.yaml's ``openlineage:`` or an OPENLINEAGE_* transport variable."""
    if environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    config = graph.spec.config.openlineage
    if config is not None:
        return not config.disabled
    return any(key in environ for key in _ENV_KEYS) or any(k.startswith("OPENLINEAGE__TRANSPORT") for k in environ)


def namespace_of(graph: MeshGraph) -> str:
    config = graph.spec.config.openlineage
    return (config.namespace if config and config.namespace else None) or f"meshplane://{graph.spec.config.name}"


def run_uuid(namespace: str, run_id: str) -> str:
    """The OpenLineage runId of a catalog run: derived, so either id finds the other."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/runs/{run_id}"))


@dataclass(frozen=True)
class Assertion:
    """One contract check on a port, as a data-quality assertion (aggregates only, never sample rows)."""

    port: str
    rule_id: str
    success: bool
    metric: str = ""
    column: str | None = None
    severity: str = "error"
    expected: str = ""
    actual: str = ""


def _field_type(column: ColumnSpec) -> str:
    return column.physical_type or column.logical_type or "string"


class LineageEmitter:
    """Builds OpenLineage events from the mesh graph and sends them through the configured transport."""

    def __init__(self, graph: MeshGraph, client: OpenLineageClient | None = None) -> None:
        self.graph = graph
        self.namespace = namespace_of(graph)
        self._client = client
        self._queue: queue.Queue[RunEvent | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0

    # --- the client and its sending thread ----------------------------------------------------------

    @property
    def client(self) -> OpenLineageClient:
        if self._client is None:
            from openlineage.client import OpenLineageClient

            config = self.graph.spec.config.openlineage
            if config is not None and config.transport is not None:
                self._client = OpenLineageClient(config={"transport": dict(config.transport)})
            else:
                self._client = OpenLineageClient()
        return self._client

    def _send(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                self.client.emit(event)
                self.sent += 1
            except Exception as error:  # a lineage server's trouble must never fail a build
                self.failed += 1
                log.warning("OpenLineage event not sent: %s", error)
            finally:
                self._queue.task_done()

    def _put(self, event: RunEvent) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._send, name="openlineage", daemon=True)
                self._worker.start()
        self._queue.put(event)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued event was sent (or given up); False if ``timeout`` passed first."""
        if self._worker is None:
            return True
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        if self._worker is not None and self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(timeout=1.0)
        if self._client is not None:
            self._client.close(timeout=1.0)

    # --- builds --------------------------------------------------------------------------------------

    def build_event(
        self,
        product: Address,
        run_id: str,
        state: RunState,
        at: datetime,
        *,
        engine: str = "",
        error: str | None = None,
        assertions: Sequence[Assertion] = (),
        rows: Mapping[str, int] | None = None,
    ) -> RunEvent:
        from openlineage.client.event_v2 import Job, Run, RunEvent
        from openlineage.client.event_v2 import RunState as State
        from openlineage.client.facet_v2 import error_message_run, processing_engine_run

        spec = self.graph.products[product]
        run_facets: dict[str, Any] = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=_version(), name="meshplane", openlineageAdapterVersion=_client_version()
            )
        }
        if error and state in ("FAIL", "ABORT"):
            language = "SQL" if all(p.transform.language == "sql" for p in spec.output_ports) else "PYTHON"
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=redact(error), programmingLanguage=language
            )
        return RunEvent(
            eventType=getattr(State, state),
            eventTime=at.isoformat(),
            run=Run(runId=run_uuid(self.namespace, run_id), facets=run_facets),
            job=Job(namespace=self.namespace, name=str(product), facets=self._job_facets(spec, engine)),
            inputs=self._inputs(spec),
            outputs=self._outputs(spec, state, assertions, rows or {}),
            producer=PRODUCER,
        )

    def emit_build(self, product: Address, run_id: str, state: RunState, at: datetime, **details: Any) -> None:
        """Queue one build run event; never raises (a bad event is logged and dropped)."""
        try:
            self._put(self.build_event(product, run_id, state, at, **details))
        except Exception as error:
            self.failed += 1
            log.warning("OpenLineage event for %s not built: %s", product, error)

    # --- consumer queries ------------------------------------------------------------------------------

    def emit_query(
        self, user: str, ports: Sequence[str], query_id: str, ok: bool, at: datetime, error: str | None = None
    ) -> None:
        """START and COMPLETE (or FAIL) of one consumer query: job ``query.<user>``, the ports it read as inputs."""
        try:
            from openlineage.client.event_v2 import InputDataset, Job, Run, RunEvent
            from openlineage.client.event_v2 import RunState as State
            from openlineage.client.facet_v2 import error_message_run, job_type_job

            run = run_uuid(self.namespace, f"query/{query_id}")
            job = Job(
                namespace=self.namespace,
                name=f"query.{user}",
                facets={
                    "jobType": job_type_job.JobTypeJobFacet(
                        processingType="BATCH", integration="MESHPLANE", jobType="QUERY"
                    )
                },
            )
            inputs = [InputDataset(namespace=self.namespace, name=port) for port in sorted(ports)]
            self._put(
                RunEvent(
                    eventType=State.START,
                    eventTime=at.isoformat(),
                    run=Run(runId=run),
                    job=job,
                    inputs=inputs,
                    producer=PRODUCER,
                )
            )
            facets: dict[str, Any] = {}
            if not ok and error:
                facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                    message=redact(error), programmingLanguage="SQL"
                )
            self._put(
                RunEvent(
                    eventType=State.COMPLETE if ok else State.FAIL,
                    eventTime=at.isoformat(),
                    run=Run(runId=run, facets=facets),
                    job=job,
                    inputs=inputs,
                    producer=PRODUCER,
                )
            )
        except Exception as error:
            self.failed += 1
            log.warning("OpenLineage query event not built: %s", error)

    # --- facets --------------------------------------------------------------------------------------

    def _job_facets(self, spec: ProductSpec, engine: str) -> dict[str, Any]:
        from openlineage.client.facet_v2 import documentation_job, job_type_job, ownership_job, sql_job

        facets: dict[str, Any] = {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="MESHPLANE", jobType="DATA_PRODUCT"
            ),
            "ownership": ownership_job.OwnershipJobFacet(
                owners=[ownership_job.Owner(name=f"team:{spec.team}", type="OWNER")]
            ),
        }
        purpose = spec.description.get("purpose") or spec.title or spec.name
        if purpose:
            facets["documentation"] = documentation_job.DocumentationJobFacet(description=purpose)
        sql = [p for p in spec.output_ports if p.transform.language == "sql"]
        if len(sql) == 1 and len(spec.output_ports) == 1:
            facets["sql"] = sql_job.SQLJobFacet(query=sql[0].transform.code, dialect=engine or "duckdb")
        return facets

    def _dataset_facets(self, contract: ContractSpec, owner: str | None, uri: str) -> dict[str, Any]:
        from openlineage.client.facet_v2 import (
            datasource_dataset,
            documentation_dataset,
            ownership_dataset,
            schema_dataset,
        )

        facets: dict[str, Any] = {
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(
                        name=c.name, type=_field_type(c), description=c.description, ordinal_position=i
                    )
                    for i, c in enumerate(contract.columns, start=1)
                ]
            ),
            "dataSource": datasource_dataset.DatasourceDatasetFacet(name=self.namespace, uri=uri),
        }
        description = contract.odcs.description.purpose if contract.odcs.description else None
        if description:
            facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(description=description)
        if owner:
            facets["ownership"] = ownership_dataset.OwnershipDatasetFacet(
                owners=[ownership_dataset.Owner(name=f"team:{owner}", type="OWNER")]
            )
        return facets

    def _inputs(self, spec: ProductSpec) -> list[InputDataset]:
        from openlineage.client.event_v2 import InputDataset

        inputs = []
        for edge in self.graph.edges.get(spec.address, ()):
            if edge.upstream_port is not None and edge.upstream_port in self.graph.ports:
                port = self.graph.ports[edge.upstream_port]
                facets = self._dataset_facets(
                    port.contract, self.graph.owner_of(edge.upstream_port), f"{self.namespace}/{edge.upstream_port}"
                )
                inputs.append(InputDataset(namespace=self.namespace, name=str(edge.upstream_port), facets=facets))
            elif edge.source is not None:
                facets = self._dataset_facets(edge.source, None, _source_uri(self.graph.spec.root, edge.source))
                inputs.append(InputDataset(namespace=self.namespace, name=edge.source.id, facets=facets))
        return inputs

    def _outputs(
        self, spec: ProductSpec, state: RunState, assertions: Sequence[Assertion], rows: Mapping[str, int]
    ) -> list[OutputDataset]:
        from openlineage.client.event_v2 import OutputDataset
        from openlineage.client.facet_v2 import (
            column_lineage_dataset as cl,
        )
        from openlineage.client.facet_v2 import (
            data_quality_assertions_dataset as dq,
        )
        from openlineage.client.facet_v2 import (
            output_statistics_output_dataset as stats,
        )

        from meshplane.lineage.columns import port_column_lineage  # sqlglot's optimizer: only when events are sent

        outputs = []
        for port in spec.output_ports:
            name = f"{spec.address}.{port.name}"
            facets = self._dataset_facets(port.contract, spec.team, f"{self.namespace}/{name}")
            fields: dict[str, list[Any]] = {}
            for edge in port_column_lineage(self.graph, spec, port):
                fields.setdefault(edge.downstream_column, []).append(
                    cl.InputField(namespace=self.namespace, name=edge.upstream_port, field=edge.upstream_column)
                )
            if fields:
                facets["columnLineage"] = cl.ColumnLineageDatasetFacet(
                    fields={column: cl.Fields(inputFields=inputs) for column, inputs in sorted(fields.items())}
                )
            checks = [a for a in assertions if a.port == name]
            if checks:
                # Contract checks run on the staged output before it is published; OpenLineage models
                # assertions as a facet of the dataset they were run on.
                facets["dataQualityAssertions"] = dq.DataQualityAssertionsDatasetFacet(
                    assertions=[
                        dq.Assertion(
                            assertion=a.metric or a.rule_id,
                            success=a.success,
                            column=a.column,
                            severity=a.severity,
                            name=a.rule_id,
                            expected=a.expected or None,
                            actual=a.actual or None,
                        )
                        for a in checks
                    ]
                )
            output_facets: dict[str, Any] = {}
            if state == "COMPLETE" and name in rows:
                output_facets["outputStatistics"] = stats.OutputStatisticsOutputDatasetFacet(rowCount=rows[name])
            outputs.append(
                OutputDataset(namespace=self.namespace, name=name, facets=facets, outputFacets=output_facets)
            )
        return outputs


def _source_uri(root: Path, source: ContractSpec) -> str:
    """Where a source's data lives: a file URI (paths are relative to the mesh root), or the PostgreSQL table."""
    server = source.server
    if server is None:
        return f"meshplane:source/{source.id}"
    if server.type == "postgres":
        return "postgres:" + ".".join(p for p in (server.database, server.schema, server.table) if p)
    path = server.path or ""
    return path if "://" in path else (root / path).as_uri()


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("meshplane")
    except PackageNotFoundError:
        return "0.0.0"


@functools.cache
def _client_version() -> str:
    from importlib.metadata import version

    return version("openlineage-python")
