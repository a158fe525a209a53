"""``check`` never follows a symbolic link out of the mesh, and terminal output shows mesh text's control
characters as visible escapes instead of sending them to the reader's terminal."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.table import Table

from meshplane.cli.app import _report_error, main
from meshplane.cli.common import SafeConsole, err, out
from meshplane.errors import MeshError

EVENTS_CONTRACT = "domains/podcasts/listening_events/listening_events.odcs.yaml"
EVENTS_SQL = "domains/podcasts/listening_events/listening_events.sql"
CANARY = "CANARY-OUTSIDE-THE-MESH"


def _check(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(["check", str(root)])
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out + captured.err


def _outside(tmp_path: Path, name: str, text: str) -> Path:
    target = tmp_path / "elsewhere" / name
    target.parent.mkdir(exist_ok=True)
    target.write_text(text, "utf-8")
    return target


@pytest.mark.parametrize("relative", [EVENTS_CONTRACT, EVENTS_SQL])
def test_a_file_linked_out_of_the_mesh_is_reported_not_read(
    base_mesh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], relative: str
) -> None:
    inside = base_mesh / relative
    copy = _outside(tmp_path, inside.name, inside.read_text("utf-8") + f"\n# {CANARY}\n")
    inside.unlink()
    inside.symlink_to(copy)
    code, output = _check(base_mesh, capsys)
    assert code == 1
    assert f"{relative}: error: this is a symbolic link that leads out of the mesh" in output
    assert "[outside-mesh]" in output and CANARY not in output


def test_a_domain_folder_linked_out_of_the_mesh(base_mesh: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    domain = base_mesh / "domains" / "royalties"
    moved = tmp_path / "elsewhere-domain"
    shutil.move(domain, moved)
    domain.symlink_to(moved, target_is_directory=True)
    code, output = _check(base_mesh, capsys)
    assert code == 1 and "domains/royalties/domain.yaml: error: this is a symbolic link" in output


def test_links_inside_the_mesh_are_fine(base_mesh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = base_mesh / EVENTS_SQL
    real = base_mesh / "shared.sql"
    real.write_text(sql.read_text("utf-8"), "utf-8")
    sql.unlink()
    sql.symlink_to(real)
    code, output = _check(base_mesh, capsys)
    assert code == 0, output


def test_a_policy_linked_out_of_the_mesh(base_mesh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policies = base_mesh / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "extra.yaml").symlink_to(_outside(tmp_path, "extra.yaml", f"# {CANARY}\npolicies: []\n"))
    code, output = _check(base_mesh, capsys)
    assert "policies/extra.yaml: error: this is a symbolic link" in output and CANARY not in output
    assert code == 1


def test_waivers_linked_out_of_the_mesh(base_mesh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (base_mesh / "waivers.yaml").symlink_to(_outside(tmp_path, "waivers.yaml", f"# {CANARY}\nwaivers: []\n"))
    code, output = _check(base_mesh, capsys)
    assert "waivers.yaml: error: this is a symbolic link" in output and CANARY not in output
    assert code == 1


def test_terminal_output_escapes_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(out, SafeConsole) and isinstance(err, SafeConsole)
    buffer = io.StringIO()
    console = SafeConsole(file=buffer, force_terminal=True, color_system="standard")
    evil = "title\x1b]0;owned\x07 \x1b[2J\u202eexe.txt\x9b"
    console.print(evil)
    console.print(evil, markup=False)
    table = Table()
    table.add_column("description")
    table.add_row(evil)
    console.print(table)
    written = buffer.getvalue()
    for raw in ("\x1b]0;", "\x07", "\x1b[2J", "\u202e", "\x9b"):
        assert raw not in written
    assert "\\x1b]0;owned\\x07" in written.replace("\x1b[1m", "").replace("\x1b[0m", "").replace("\x1b[1;36m", "")
    _report_error(MeshError(f"bad value {evil}"))
    assert "\x1b]0;" not in capsys.readouterr().err
