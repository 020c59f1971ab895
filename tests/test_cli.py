"""Every `yoked` command answers --help (walked from the command tree, so new ones are covered)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from yoked_actors.cli import main


def command_paths(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: main " + " ".join(path) in result.output
    summary = result.output.split("\n\n", 2)[1].strip()
    assert summary, f"`yoked {' '.join(path)}` has no description"
