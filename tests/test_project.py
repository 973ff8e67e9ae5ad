"""The project's own set-up: dependency lists agree, the two README commands are documented."""

from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement

from conftest import PROJECT_ROOT, import_required


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


def _make(target: str, tmp_path, *, tools: dict[str, str], extra: tuple[str, ...] = ()):
    """Run ``make`` on the project with only the given stand-in tools (and sh, ls) on the PATH."""
    import os
    import shutil
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("sh", "ls", "uname"):
        (bin_dir / name).symlink_to(shutil.which(name))
    for name, script in tools.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{script}\n")
        (bin_dir / name).chmod(0o755)
    return subprocess.run([shutil.which("make"), "--no-print-directory", "-s", target, *extra], cwd=PROJECT_ROOT,
                          env={**os.environ, "PATH": str(bin_dir)}, capture_output=True, text=True, timeout=60)


def test_make_test_installs_the_system_packages_first():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert re.search(r"^test: .*\bsystem-deps\b", makefile, flags=re.MULTILINE)
    assert "make system-deps" not in (PROJECT_ROOT / ".ci" / "run").read_text()  # make test does it


def test_system_deps_uses_sudo_when_not_root(tmp_path):
    done = _make("system-deps", tmp_path, tools={"id": "echo 1000", "apt-get": "exit 3",
                                                 "sudo": 'echo "sudo $*"'})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "sudo apt-get update -qq"
    assert lines[1].startswith("sudo DEBIAN_FRONTEND=noninteractive apt-get install -y")
    assert "chromium" in lines[1] and "postgresql" in lines[1] and "default-jre-headless" in lines[1]


def test_system_deps_without_root_or_sudo_says_in_one_line_what_to_install(tmp_path):
    done = _make("system-deps", tmp_path, tools={"id": "echo 1000", "apt-get": "echo apt-get ran; exit 3"})
    assert done.returncode != 0
    assert "apt-get ran" not in done.stdout + done.stderr
    message = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert len(message) == 1 and "there is no sudo; as root run: apt-get install chromium" in message[0]


def test_make_lab_allows_root_and_takes_a_port(tmp_path):
    def lab_command(user_id: str, *extra: str) -> str:
        done = _make("lab", tmp_path / user_id, tools={"id": f"echo {user_id}"},
                     extra=("--dry-run", "--old-file=.venv/.installed-stamp", *extra))
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    (tmp_path / "0").mkdir()
    (tmp_path / "1000").mkdir()
    assert lab_command("0", "PORT=8899").split()[1:] == ["lab", "--notebook-dir=.", "--port=8899", "--allow-root"]
    assert lab_command("1000").split()[1:] == ["lab", "--notebook-dir=."]


def test_notebooks_go_through_the_nbstripout_filter_that_make_install_configures():
    attributes = (PROJECT_ROOT / ".gitattributes").read_text()
    assert "*.ipynb filter=nbstripout" in attributes
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "git config filter.nbstripout.clean" in makefile and "-m nbstripout" in makefile
    assert "git rev-parse --is-inside-work-tree" in makefile  # only inside a git checkout
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert any(r.startswith("nbstripout") for r in pyproject["project"]["optional-dependencies"]["test"])


def test_the_nbstripout_filter_commits_a_notebook_without_outputs(tmp_path):
    import shutil
    import subprocess
    import sys

    import nbformat

    import_required("nbstripout", "the test extras (pip install -e '.[test]')")
    git = shutil.which("git")

    def run(*args: str) -> str:
        return subprocess.run([git, *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout

    run("init", "-q")
    run("config", "user.email", "test@example.com")
    run("config", "user.name", "test")
    run("config", "filter.nbstripout.clean", f"'{sys.executable}' -m nbstripout")
    run("config", "filter.nbstripout.smudge", "cat")
    shutil.copy(PROJECT_ROOT / ".gitattributes", tmp_path / ".gitattributes")
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1", execution_count=3,
                                     outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "2"},
                                                                     execution_count=3)])
    cell.metadata["tags"] = ["parameters"]
    notebook.cells.append(cell)
    nbformat.write(notebook, tmp_path / "saved.ipynb")
    run("add", ".gitattributes", "saved.ipynb")
    run("commit", "-q", "-m", "a notebook saved with outputs")
    committed = nbformat.reads(run("show", "HEAD:saved.ipynb"), as_version=4)
    assert committed.cells[0].outputs == [] and committed.cells[0].execution_count is None
    assert committed.cells[0].metadata["tags"] == ["parameters"]


def test_every_clc_lib_name_the_benchmarks_and_test_helpers_import_exists():
    """The benchmarks run outside the suite: a module split must not leave them importing a moved name."""
    import ast
    import importlib
    import importlib.util

    scripts = sorted((PROJECT_ROOT / "benchmarks").glob("*.py")) + [PROJECT_ROOT / "tests" / "engine_equivalence.py"]
    checked = 0
    for script in scripts:
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("clc_lib"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    submodule = hasattr(module, "__path__") and importlib.util.find_spec(f"{node.module}.{alias.name}")
                    assert hasattr(module, alias.name) or submodule, (
                        f"{script.name} imports {alias.name} from {node.module}, which has no such name")
                    checked += 1
    assert checked > 10
