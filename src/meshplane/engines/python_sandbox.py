"""Python transforms in a separate, confined process: Arrow in, Arrow out.

:class:`SandboxedTransform` is what an engine calls for a Python transform: ``transform(**tables)`` sends
the transform's source text and its inputs (Arrow IPC, already governed: granted columns, masks, row
filters) to a fresh limited child process (:func:`meshplane.engines.limits.run_limited`: address space,
CPU seconds, wall-clock deadline, a minimal environment without the catalog URL or any secret), which
confines itself (:func:`meshplane.engines.confine.confine`: read-only Python installation, read-write
scratch folder, no network, no new processes, no signals out), then compiles and runs the code and returns
the result as Arrow IPC. The platform process never imports the transform; the child never learns a
warehouse path, the catalog URL or a credential.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshplane.engines.limits import ProcessLimits, RemoteError, run_limited
from meshplane.errors import BuildError, LimitExceeded

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["PythonLimits", "SandboxedTransform"]


@dataclass(frozen=True, slots=True)
class PythonLimits:
    """Limits of one Python transform run."""

    memory_bytes: int = 4 * 2**30
    cpu_seconds: int = 600
    wall_seconds: float = 900.0
    scratch_bytes: int = 2 * 2**30
    """The largest file the transform may write in its scratch folder."""
    confined: bool = True
    """False runs the child without Landlock/seccomp (a kernel without Landlock; trusted code only)."""


def _ipc(tables: Mapping[str, pa.Table]) -> dict[str, bytes]:
    import pyarrow as pa

    encoded = {}
    for name, table in tables.items():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        encoded[name] = sink.getvalue().to_pybytes()
    return encoded


def _readable_roots() -> list[str]:
    """Where the child may read: the Python installation and its import path (code, not data)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values()}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    paths.update(("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo", "/dev/urandom", "/dev/null"))
    return sorted(p for p in paths if os.path.exists(p))


def run_confined(code: str, filename: str, inputs: dict[str, bytes], scratch: str, readable: list[str],
                 scratch_bytes: int, confined: bool) -> bytes:  # fmt: skip
    """In the child: confine, compile and run ``transform(**inputs)``, return its result as Arrow IPC."""
    import pyarrow as pa

    from meshplane.engines.confine import confine
    from meshplane.engines.convert import to_arrow_table

    tables = {name: pa.ipc.open_stream(data).read_all() for name, data in inputs.items()}
    del inputs
    os.chdir(scratch)
    confine(readable=readable, writable=[scratch, "/dev/null"], file_bytes=scratch_bytes, required=confined)
    namespace: dict[str, Any] = {"__name__": "meshplane_transform", "__file__": filename}
    try:
        exec(compile(code, filename, "exec"), namespace)
    except MemoryError:
        raise
    except BaseException as error:  # SystemExit included: nothing the user raises may reach the platform as is
        raise BuildError(f"importing the transform failed: {type(error).__name__}: {error}") from None
    function = namespace.get("transform")
    if not callable(function):
        raise BuildError(f"{filename}: define a function `transform(**inputs)` returning an Arrow table")
    try:
        table = to_arrow_table(function(**tables), "transform")
    except MemoryError:
        raise
    except BaseException as error:
        raise BuildError(f"Python transform transform() raised {type(error).__name__}: {error}") from None
    return _ipc({"result": table})["result"]


class SandboxedTransform:
    """A Python transform file, called like the function it defines but run in a confined child."""

    __name__ = "transform"

    def __init__(self, path: Path, code: str, limits: PythonLimits | None = None) -> None:
        self.path = path
        self.code = code
        self.limits = limits or PythonLimits()

    def __call__(self, **tables: pa.Table) -> pa.Table:
        import pyarrow as pa

        limits = self.limits
        scratch = tempfile.mkdtemp(prefix="meshplane-transform-")
        env = {"HOME": scratch, "TMPDIR": scratch}
        try:
            data = run_limited(
                run_confined,
                self.code,
                str(self.path),
                _ipc(tables),
                scratch,
                _readable_roots(),
                limits.scratch_bytes,
                limits.confined,
                limits=ProcessLimits(limits.memory_bytes, limits.cpu_seconds, limits.wall_seconds),
                cwd=scratch,
                env=env,
            )
        except LimitExceeded as error:
            raise BuildError(f"{self.path}: the Python transform was stopped: {error}") from None
        except RemoteError as error:
            raise BuildError(f"{self.path}: the Python transform failed: {error}") from None
        except BuildError:
            raise
        except (Exception, SystemExit, GeneratorExit) as error:  # whatever else came back from the child
            raise BuildError(f"{self.path}: the Python transform raised {type(error).__name__}: {error}") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return pa.ipc.open_stream(data).read_all()
