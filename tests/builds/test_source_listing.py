"""A product build lists each file source once: its run reads exactly the files the fingerprint it publishes
describes, so a file landing in the source folder while the build runs is read by the next build, never recorded
as read by this one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from meshplane.builds import Reason, Status
from meshplane.types import Address
from meshplane.workspace import Mesh
from meshplane.workspace.edges import GovernedInputs

from .meshes import EVENTS, write_events

PRODUCT = "podcasts.listening_events"
PORT = "podcasts.listening_events.listening_events"
LATE = 5


def _land_a_file(monkeypatch: pytest.MonkeyPatch, root: Path, *, after_binding: bool) -> None:
    """The next binding of the product's inputs sees a file of LATE rows land in the listens folder: just before
    it binds (after the build has listed the sources for its lock re-check) or just after (while the run goes)."""
    bind = GovernedInputs.bind
    landed: list[Path] = []

    def binding(self: GovernedInputs, product: Any, *args: Any, **kwargs: Any) -> Mapping[str, Any]:
        if str(product.address) != PRODUCT or landed:
            return bind(self, product, *args, **kwargs)
        if not after_binding:
            landed.append(write_events(root, LATE, name="part-late.csv", start=EVENTS))
        bound = bind(self, product, *args, **kwargs)
        if after_binding:
            landed.append(write_events(root, LATE, name="part-late.csv", start=EVENTS))
        return bound

    monkeypatch.setattr(GovernedInputs, "bind", binding)


def _rows(root: Path) -> int:
    with Mesh.open(root) as mesh:
        snapshot = mesh.builds.current(Address.parse(PORT))
        assert snapshot is not None
        return snapshot.row_count


def _stale(root: Path) -> tuple[Reason, ...]:
    with Mesh.open(root) as mesh:
        items = {str(item.address): item.reasons for item in mesh.plan([PRODUCT]).items}
    return items.get(PRODUCT, ())


@pytest.mark.parametrize("full_refresh", [False, True], ids=["planned", "full-refresh"])
@pytest.mark.parametrize("after_binding", [False, True], ids=["before-binding", "during-run"])
def test_a_file_landing_during_a_build_is_left_to_the_next_build(
    root: Path, monkeypatch: pytest.MonkeyPatch, full_refresh: bool, after_binding: bool
) -> None:
    with Mesh.open(root) as mesh:
        assert mesh.build([PRODUCT]).ok
    assert _rows(root) == EVENTS
    write_events(root, 2, name="part-2.csv", start=1000)  # the build below has something to read
    _land_a_file(monkeypatch, root, after_binding=after_binding)

    with Mesh.open(root) as mesh:
        [outcome] = [o for o in mesh.build([PRODUCT], full_refresh=full_refresh).outcomes if str(o.address) == PRODUCT]
    assert outcome.status is Status.SUCCESS, outcome.error
    # A planned build lists the sources when it re-checks under its lock, a full refresh (nothing to re-check)
    # when it binds the inputs: only a file landing before that listing is read.
    read_late = full_refresh and not after_binding
    assert _rows(root) == EVENTS + 2 + (LATE if read_late else 0)
    # The published fingerprint holds exactly the files read: a late file not read is new data to the next plan.
    assert (Reason.SOURCE_CHANGED in _stale(root)) is not read_late

    monkeypatch.undo()
    with Mesh.open(root) as mesh:
        assert mesh.build([PRODUCT]).ok
    assert _rows(root) == EVENTS + 2 + LATE
    assert _stale(root) == ()
