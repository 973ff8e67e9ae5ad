"""The project's own set-up: dependency lists agree, the two README commands are documented."""

from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement

from conftest import PROJECT_ROOT


def _normalise(requirement: str) -> tuple[str, str, frozenset[str]]:
    parsed = Requirement(requirement)
    name = re.sub(r"[-_.]+", "-", parsed.name).lower()
    return name, str(parsed.specifier), frozenset(parsed.extras)


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    declared = pyproject["project"]["dependencies"] + pyproject["project"]["optional-dependencies"]["test"]
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    listed = []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            listed.extend(item for item in entry["pip"] if not item.startswith("-e"))
        elif not entry.startswith(("python", "pip")):
            listed.append(entry)
    # conda has no extras syntax: ibis' DuckDB extra is in the pip section, so compare extras too.
    assert sorted(map(_normalise, listed)) == sorted(map(_normalise, declared))


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_command():
    readme = (PROJECT_ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make reports" in first_block and "make test" in first_block
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()
