"""The README's commands work on a fresh clone: every `make` target it names is in the Makefile, every
`conveyor` command it (or the command-line guide) shows exists with the options it is shown with, and
the README stays short enough to read first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from ml_tasks.platform.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
COMMAND_PAGES = [README, ROOT / "docs" / "command-line.md"]
MAX_README_LINES = 220


def _snippets(path: Path) -> list[str]:
    """Inline code spans and the lines of fenced blocks (continuation lines joined), as shell text."""
    text = path.read_text()
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.M | re.S)
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"^```[a-z]*\n.*?^```", "", text, flags=re.M | re.S))
    return [s.split("#")[0] for s in lines + inline]


def _conveyor_calls(path: Path) -> list[tuple[str, list[str]]]:
    calls = []
    for snippet in _snippets(path):
        for m in re.finditer(r"(?:^|[\s/])conveyor (\w[\w-]*)((?: +[^|;&]*)?)", snippet):
            calls.append((m.group(1), re.findall(r"(?<![\w-])(--[a-z][\w-]*)", m.group(2))))
    return calls


def _commands() -> dict[str, set[str]]:
    group = typer.main.get_command(app)
    return {name: {opt for p in cmd.params for opt in p.opts} for name, cmd in group.commands.items()}


def test_the_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines; move detail into docs/ (at most {MAX_README_LINES})"
    )


def test_every_make_target_in_the_readme_exists():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M))
    named = {m for s in _snippets(README) for m in re.findall(r"(?:^|\s)make ([a-z][\w-]*)", s)}
    assert named, "the README names no make target"
    assert {"up", "test"} <= named, "the README's two commands are `make up` and `make test`"
    assert not named - targets, f"README.md names make targets the Makefile lacks: {sorted(named - targets)}"


def test_the_ci_runs_the_readmes_test_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ("make lint", "make test", "make test-e2e"):
        assert re.search(rf"^{command}$", ci, flags=re.M), f".ci/run does not run `{command}`"
        assert f"`{command}`" in README.read_text(), f"README.md does not give `{command}`"


@pytest.mark.parametrize("page", COMMAND_PAGES, ids=lambda p: p.name)
def test_every_conveyor_command_shown_exists_with_its_options(page):
    commands = _commands()
    calls = _conveyor_calls(page)
    assert calls, f"{page.name} shows no conveyor command"
    wrong = []
    for name, options in calls:
        if name not in commands:
            wrong.append(f"conveyor {name}: no such command (commands: {sorted(commands)})")
        elif name != "airflow":  # `conveyor airflow ...` hands its options to Airflow's CLI
            wrong += [f"conveyor {name} {o}: no such option" for o in options if o not in commands[name]]
    assert not wrong, f"{page.name}:\n" + "\n".join(wrong)
