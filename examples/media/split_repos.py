"""Split the media example into one repository per team, all on one shared platform.

    python examples/media/split_repos.py OUT [--warehouse s3://bucket/media] [--data DIR] [--git]

writes

    OUT/governance/   mesh.yaml (repository: governance; teams, users), glossary.yaml: the guild's repository
    OUT/<domain>/     mesh.yaml (repository: domain) and domains/<domain>/ only, with data/<domain>/ when
                      --data names the folder generate.py wrote
    OUT/platform/     mesh.yaml only (repository: domain, no domain of its own): where the platform team runs
                      `meshplane serve`, seeing every published domain

Every mesh.yaml names the same platform: the catalog database from $MESHPLANE_CATALOG_URL (PostgreSQL for
several repositories) and the warehouse given here (a shared folder or an s3:// bucket prefix). With --git
each folder becomes a git repository with one commit. docs/deployment.md walks through using them.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
GOVERNANCE_FILES = ("glossary.yaml", "waivers.yaml")


def _platform(warehouse: str) -> dict[str, str]:
    return {"engine": "duckdb", "warehouse": warehouse, "catalog_url_env": "MESHPLANE_CATALOG_URL"}


def _git(folder: Path, message: str) -> None:
    def run(*args: str) -> None:
        subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)

    run("init", "-q", "-b", "main")
    run("add", "-A")
    run("-c", "user.name=meshplane", "-c", "user.email=meshplane@example.invalid", "commit", "-q", "-m", message)


def split(out: Path, warehouse: str, data: Path | None = None, git: bool = False) -> dict[str, Path]:
    """Write the governance repository and one repository per domain under ``out``; their folders by name."""
    config = yaml.safe_load((HERE / "mesh.yaml").read_text("utf-8"))
    repos: dict[str, Path] = {}

    governance = out / "governance"
    governance.mkdir(parents=True)
    guild = {"name": config["name"], "title": config.get("title"), "description": config.get("description")}
    guild.update({"repository": "governance", "platform": _platform(warehouse)})
    guild.update({k: v for k, v in config.items() if k in ("teams", "users", "governance_team", "platform_team")})
    (governance / "mesh.yaml").write_text(
        "# The governance guild's repository: teams, users, glossary and global policies of the platform.\n"
        + yaml.safe_dump(guild, sort_keys=False, allow_unicode=True),
        "utf-8",
    )
    for name in GOVERNANCE_FILES:
        if (HERE / name).is_file():
            shutil.copy2(HERE / name, governance / name)
    if (HERE / "policies").is_dir():
        shutil.copytree(HERE / "policies", governance / "policies")
    repos["governance"] = governance

    for domain in sorted(p.name for p in (HERE / "domains").iterdir() if p.is_dir()):
        repo = out / domain
        repo.mkdir(parents=True)
        mesh = {"name": config["name"], "repository": "domain", "platform": _platform(warehouse)}
        if config.get("connections"):
            mesh["connections"] = config["connections"]
        (repo / "mesh.yaml").write_text(
            f"# The {domain} team's repository: its domain only; teams, glossary, policies and other domains'\n"
            "# ports come from the shared platform's catalog.\n" + yaml.safe_dump(mesh, sort_keys=False),
            "utf-8",
        )
        shutil.copytree(
            HERE / "domains" / domain, repo / "domains" / domain, ignore=shutil.ignore_patterns("__pycache__")
        )
        (repo / ".gitignore").write_text(".meshplane/\ndata/\n", "utf-8")
        if data is not None and (data / domain).is_dir():
            shutil.copytree(data / domain, repo / "data" / domain)
        repos[domain] = repo

    platform = out / "platform"
    platform.mkdir(parents=True)
    serving = {"name": config["name"], "repository": "domain", "platform": _platform(warehouse)}
    (platform / "mesh.yaml").write_text(
        "# The platform team's checkout: no domain of its own; `meshplane serve` here shows every published one.\n"
        + yaml.safe_dump(serving, sort_keys=False),
        "utf-8",
    )
    (platform / ".gitignore").write_text(".meshplane/\n", "utf-8")
    repos["platform"] = platform

    if git:
        for name, repo in repos.items():
            _git(repo, f"{name}: split from the media example")
    return repos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a new folder for the repositories")
    parser.add_argument("--warehouse", default=None, help="shared warehouse (default: OUT/warehouse)")
    parser.add_argument("--data", type=Path, default=None, help="the folder generate.py wrote (copied per domain)")
    parser.add_argument("--git", action="store_true", help="make each folder a git repository with one commit")
    args = parser.parse_args()
    out = args.out.resolve()
    warehouse = args.warehouse or str(out / "warehouse")
    for name, repo in split(out, warehouse, args.data, args.git).items():
        print(f"{name:<12} {repo}")


if __name__ == "__main__":
    main()
