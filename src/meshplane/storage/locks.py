"""Build locks shared by every builder of a platform: leases in the metadata database.

Builders on several machines (or working copies) share one metadata database (SQLite embedded,
PostgreSQL for an organisation), so a lock is a row there: ``meshplane_leases(lease_key, holder, ...)``
with an expiry in the database's own clock (machines' clocks never compare). A holder renews its leases
from one heartbeat thread; a holder that dies stops renewing and its lease is taken over once it expired.
A holder on this same host whose process is gone is taken over at once (no wait for the expiry), so a
killed local build frees its products as fast as the ``flock`` this replaced.

Within one :class:`LeaseManager` a lock is re-entrant in its thread; other threads and processes wait.
:meth:`Lease.verify` tells a holder, just before it publishes, that nobody took its lease over.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshplane.errors import ConcurrentBuild

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["LEASES", "Lease", "LeaseManager"]

LEASES = "meshplane_leases"
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {LEASES} (lease_key VARCHAR(255) NOT NULL PRIMARY KEY, "
    "holder VARCHAR(64) NOT NULL, host VARCHAR(255) NOT NULL, pid INTEGER NOT NULL, "
    "acquired_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL)"
)
_POLL_SECONDS = 0.05
# Milliseconds since the epoch in the database's clock, per dialect.
_NOW = {
    "sqlite": "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
}


def _host() -> str:
    """This machine: its name and boot id, so a pid is only ever compared on the boot it belongs to."""
    boot = ""
    with contextlib.suppress(OSError), open("/proc/sys/kernel/random/boot_id") as handle:
        boot = handle.read().strip()[:8]
    return f"{socket.gethostname()}/{boot}"[:255]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: dead for our purposes
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@dataclass
class Lease:
    """One held lease; ``lost`` is set when a renewal found it taken over."""

    key: str
    holder: str
    manager: LeaseManager
    lost: bool = False

    def verify(self) -> None:
        """Raise ConcurrentBuild unless this lease is still ours in the database."""
        if self.lost or not self.manager.still_held(self):
            self.lost = True
            raise ConcurrentBuild(
                f"{self.key}: this builder's lease expired and another builder took it over; "
                "nothing was published. Retry the build."
            )


class LeaseManager:
    """Leases on named keys in the database behind ``engine``; one per table store."""

    def __init__(self, engine: Callable[[], Engine], ttl: float = 60.0) -> None:
        self._engine = engine
        self.ttl = max(float(ttl), 1.0)
        self._host = _host()
        self._guard = threading.Lock()
        self._held: dict[str, tuple[int, int, Lease]] = {}  # key -> (thread ident, depth, lease)
        self._ready = False
        self._heartbeat: threading.Thread | None = None
        self._stop = threading.Event()

    # --- holding ---------------------------------------------------------------------------------

    @contextmanager
    def hold(self, key: str, timeout: float) -> Iterator[Lease]:
        """Hold the lease on ``key``; wait at most ``timeout`` seconds, then raise ConcurrentBuild."""
        me = threading.get_ident()
        with self._guard:
            owner = self._held.get(key)
            if owner is not None and owner[0] == me:
                self._held[key] = (me, owner[1] + 1, owner[2])
                reentered: Lease | None = owner[2]
            else:
                reentered = None
        if reentered is not None:
            try:
                yield reentered
            finally:
                with self._guard:
                    thread, depth, lease = self._held[key]
                    self._held[key] = (thread, depth - 1, lease)
            return

        lease = self._acquire(key, timeout)
        with self._guard:
            self._held[key] = (me, 1, lease)
            self._start_heartbeat()
        try:
            yield lease
        finally:
            with self._guard:
                del self._held[key]
            self._release(lease)

    def still_held(self, lease: Lease) -> bool:
        import sqlalchemy as sa

        with self._engine().connect() as conn:
            row = conn.execute(
                sa.text(f"SELECT holder FROM {LEASES} WHERE lease_key = :key"), {"key": lease.key}
            ).first()
        return row is not None and row[0] == lease.holder

    # --- the database ----------------------------------------------------------------------------

    def _now(self, conn: Connection) -> str:
        return _NOW.get(conn.dialect.name, _NOW["postgresql"])

    def ensure_table(self) -> None:
        if self._ready:
            return
        import sqlalchemy as sa

        with contextlib.suppress(sa.exc.SQLAlchemyError), self._engine().begin() as conn:
            conn.execute(sa.text(_DDL))  # two processes creating it at once: the loser's error is harmless
        self._ready = True

    def _acquire(self, key: str, timeout: float) -> Lease:
        self.ensure_table()
        lease = Lease(key, uuid.uuid4().hex, self)
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            holder = self._try(lease)
            if holder is None:
                return lease
            if time.monotonic() >= deadline:
                raise ConcurrentBuild(
                    f"{key} is being built by another process{holder}; waited {timeout:g} s. "
                    "Retry when it finishes, or raise the lock timeout."
                )
            time.sleep(_POLL_SECONDS)

    def _try(self, lease: Lease) -> str | None:
        """Take the lease (None) or describe who holds it (`` (pid N on HOST)``)."""
        import sqlalchemy as sa

        params: dict[str, Any] = {
            "key": lease.key, "holder": lease.holder, "host": self._host, "pid": os.getpid(),
            "ttl": int(self.ttl * 1000),
        }  # fmt: skip
        try:
            with self._engine().begin() as conn:
                now = self._now(conn)
                conn.execute(
                    sa.text(
                        f"INSERT INTO {LEASES} (lease_key, holder, host, pid, acquired_ms, expires_ms) "
                        f"VALUES (:key, :holder, :host, :pid, {now}, {now} + :ttl)"
                    ),
                    params,
                )
            return None
        except sa.exc.IntegrityError:
            pass  # held, or left behind by a holder that never released it
        with self._engine().begin() as conn:
            now = self._now(conn)
            # Expired: one conditional write takes it over, so two contenders never both succeed.
            taken = conn.execute(
                sa.text(
                    f"UPDATE {LEASES} SET holder = :holder, host = :host, pid = :pid, acquired_ms = {now}, "
                    f"expires_ms = {now} + :ttl WHERE lease_key = :key AND expires_ms < {now}"
                ),
                params,
            ).rowcount
            if taken == 1:
                return None
            row = conn.execute(
                sa.text(f"SELECT holder, host, pid FROM {LEASES} WHERE lease_key = :key"), params
            ).first()
            if row is None:
                return ""  # released just now: the next poll inserts it
            holder, host, pid = str(row[0]), str(row[1]), int(row[2])
            if host == self._host and not _alive(pid):
                # Its holder died on this machine: take it over now, from exactly that holder.
                taken = conn.execute(
                    sa.text(
                        f"UPDATE {LEASES} SET holder = :holder, host = :host, pid = :pid, acquired_ms = {now}, "
                        f"expires_ms = {now} + :ttl WHERE lease_key = :key AND holder = :old"
                    ),
                    {**params, "old": holder},
                ).rowcount
                if taken == 1:
                    return None
            where = "" if host == self._host else f" on {host.split('/')[0]}"
            return f" (pid {pid}{where})"

    def _release(self, lease: Lease) -> None:
        import sqlalchemy as sa

        # A lease that cannot be deleted (database gone) simply expires.
        with contextlib.suppress(sa.exc.SQLAlchemyError), self._engine().begin() as conn:
            conn.execute(
                sa.text(f"DELETE FROM {LEASES} WHERE lease_key = :key AND holder = :holder"),
                {"key": lease.key, "holder": lease.holder},
            )

    # --- heartbeat -------------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or not self._heartbeat.is_alive():
            self._stop.clear()
            self._heartbeat = threading.Thread(target=self._beat, name="meshplane-lease-heartbeat", daemon=True)
            self._heartbeat.start()

    def _beat(self) -> None:
        import sqlalchemy as sa

        while not self._stop.wait(self.ttl / 3):
            with self._guard:
                leases = [lease for _, _, lease in self._held.values()]
            if not leases:
                continue
            try:
                with self._engine().begin() as conn:
                    now = self._now(conn)
                    for lease in leases:
                        renewed = conn.execute(
                            sa.text(
                                f"UPDATE {LEASES} SET expires_ms = {now} + :ttl "
                                "WHERE lease_key = :key AND holder = :holder"
                            ),
                            {"key": lease.key, "holder": lease.holder, "ttl": int(self.ttl * 1000)},
                        ).rowcount
                        if renewed != 1:
                            lease.lost = True
            except sa.exc.SQLAlchemyError:
                continue  # the database is unreachable for now: the next beat tries again before expiry

    def close(self) -> None:
        self._stop.set()
        thread, self._heartbeat = self._heartbeat, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
