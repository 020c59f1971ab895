"""`yoked moderate`: run the moderation engine on text, no database or broker needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from yoked_actors.cli.common import BadInput


@click.command()
@click.option("--text", help="One text to judge.")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Judge each line of this file ('-' for stdin).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per line).")
def moderate(text: str | None, path: Path | None, as_json: bool) -> None:
    """Judge --text, or each line of --file, with the offline moderation engine.

    Prints the decision (clean / flagged / hidden), the categories that counted and the engine
    version; with --json one object per input line, in input order. Nothing is stored.
    """
    from yoked_actors.moderation import moderate as judge

    if (text is None) == (path is None):
        raise BadInput("give exactly one of --text or --file")
    if path is not None:
        if str(path) == "-":
            lines = sys.stdin.read().splitlines()
        else:
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as error:
                raise BadInput(f"cannot read {path}: {type(error).__name__}") from None
    else:
        lines = [text or ""]
    for line in lines:
        verdict = judge(line)
        if as_json:
            click.echo(json.dumps(verdict.as_dict(), sort_keys=True))
        else:
            categories = ", ".join(verdict.categories) or "-"
            click.echo(f"{verdict.decision}\t{categories}\t{verdict.engine_version}")
