"""Human review on the real database: overturn restores status, strike and suspension exactly
once; a repeated decision changes nothing; appeals come first; rescan never strikes."""

from __future__ import annotations

import re
import shlex
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from moderation_support import (
    judged,
    make_user,
    message_status,
    result_of,
    user_status,
)
from sqlalchemy import func, select, text, update

from yoked_actors.cli import main
from yoked_actors.db import session_scope
from yoked_actors.models.contract import Message, Notification
from yoked_actors.models.moderation import ModerationResult, UserStrike
from yoked_actors.moderation import review
from yoked_actors.settings import get_settings
from yoked_actors.sql import driver_cursor


def _count(model: type, **where: object) -> int:
    with session_scope() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return session.scalar(query) or 0


def _decide(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["moderation", "review", "decide", *args])
    return result.exit_code, result.output.strip()


def test_overturning_an_appealed_hidden_message_restores_everything_exactly_once(
    review_db: str,
) -> None:
    sender = make_user()
    message = judged(sender, "I will kill you")
    other = judged(make_user(), "add me on snap: jlifts")
    assert (message_status(message), user_status(sender)) == ("hidden", "suspended")
    assert _count(UserStrike, user_id=sender) == 1

    with session_scope() as session:  # what the API does when the user taps "appeal"
        assert review.appeal(session, message, sender, "it was a quote from a film")
        assert not review.appeal(session, message, sender, "again")
        queue = review.queue(session)
    assert [(item["message_id"], item["appealed"]) for item in queue] == [
        (message, True),
        (other, False),
    ]

    listed = CliRunner().invoke(main, ["moderation", "review", "list"])
    assert listed.exit_code == 0
    assert listed.output.splitlines()[0].startswith(f"{message}\tverdict\thidden\tthreats\tappeal")
    shown = CliRunner().invoke(main, ["moderation", "review", "show", str(message)])
    assert '"content": "I will kill you"' in shown.output

    code, output = _decide(str(message), "overturn", "--reason", "film quote", "--reviewer", "ana")
    assert code == 0, output
    assert output == (
        "overturned (decided): notified true, restored true, strike_removed true, unsuspended true"
    )
    assert (message_status(message), user_status(sender)) == ("clean", "active")
    assert _count(UserStrike, user_id=sender) == 0
    notices = _count(Notification, user_id=sender, kind="safety")
    assert notices == 2  # the verdict's, then the review's

    for action in ("overturn", "uphold"):
        code, output = _decide(str(message), action, "--reason", "again", "--reviewer", "bo")
        assert code == 0
        assert output.startswith("overturned (already decided, nothing changed)")
    assert (message_status(message), user_status(sender)) == ("clean", "active")
    assert _count(Notification, user_id=sender, kind="safety") == notices
    with session_scope() as session:
        [decision] = session.execute(
            text(
                "SELECT reviewer, reason, outcome FROM moderation_review_decisions"
                " WHERE message_id = :id"
            ),
            {"id": message},
        ).all()
        assert tuple(decision) == ("ana", "film quote", "overturned")
        assert [item["message_id"] for item in review.queue(session)] == [other]
    assert result_of(message).decision == "hidden"  # type: ignore[union-attr]  # history kept


def test_overturn_keeps_a_suspension_the_remaining_strikes_still_justify(review_db: str) -> None:
    sender = make_user()
    first = judged(sender, "I will kill you")
    judged(sender, "kys")
    with session_scope() as session:
        decided = review.decide(session, first, "overturn", reason="quote", reviewer="ana")
    assert decided.effects["strike_removed"] and not decided.effects["unsuspended"]
    assert user_status(sender) == "suspended"
    assert _count(UserStrike, user_id=sender) == 1


def test_concurrent_decisions_on_one_message_apply_once(review_db: str) -> None:
    sender = make_user()
    message = judged(sender, "I will kill you")
    results: list[review.Decided] = []

    def decide(action: str) -> None:
        with session_scope() as session:
            results.append(review.decide(session, message, action, reason="r", reviewer=action))

    threads = [threading.Thread(target=decide, args=(a,)) for a in ("overturn", "uphold") * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result.applied for result in results) == 1
    assert len({result.outcome for result in results}) == 1
    assert _count(UserStrike, user_id=sender) == (0 if results[0].outcome == "overturned" else 1)


def test_uphold_changes_nothing_and_bad_decisions_are_refused(review_db: str) -> None:
    sender = make_user()
    message = judged(sender, "add me on snap: jlifts")
    code, output = _decide(str(message), "uphold", "--reason", "contact", "--reviewer", "ana")
    assert (code, output) == (0, "upheld (decided)")
    assert (message_status(message), _count(UserStrike, user_id=sender)) == ("flagged", 1)

    clean = judged(sender, "see you at 6")
    code, output = _decide(str(clean), "overturn", "--reason", "x", "--reviewer", "ana")
    assert code == 2 and "nothing to review" in output
    code, output = _decide(str(message), "overturn", "--reason", " ", "--reviewer", "ana")
    assert code == 2 and "needs a reason" in output
    code, output = _decide(str(uuid.uuid4()), "uphold", "--reason", "x", "--reviewer", "ana")
    assert code == 2


def test_rescan_sends_new_findings_to_review_and_never_strikes_twice(review_db: str) -> None:
    sender = make_user()
    missed = judged(sender, "see you at 6")  # judged clean
    struck = judged(sender, "add me on snap: jlifts")  # flagged, one strike
    with session_scope() as session:  # as if an older engine had judged them differently
        session.execute(
            update(ModerationResult)
            .where(ModerationResult.message_id.in_([missed, struck]))
            .values(engine_version="yoked-moderation old")
        )
        session.execute(
            update(ModerationResult)
            .where(ModerationResult.message_id == missed)
            .values(decision="clean")
        )
        # the newer engine would hide "missed": make its text something it hides
        session.execute(
            update(Message).where(Message.id == missed).values(content="I will kill you")
        )
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    runner = CliRunner()

    dry = runner.invoke(main, ["moderation", "rescan", "--since", since, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.strip() == (
        "dry run: findings 1, known 0, same_engine 0, scanned 2, unchanged 1"
    )
    with session_scope() as session:
        assert review.queue(session)[-1]["subject"] == "verdict"  # nothing written

    for expected in ("findings 1, known 0", "findings 0, known 1"):
        done = runner.invoke(main, ["moderation", "rescan", "--since", since, "--batch", "1"])
        assert done.exit_code == 0, done.output
        assert expected in done.output
    assert (message_status(missed), _count(UserStrike, user_id=sender)) == ("clean", 1)

    with session_scope() as session:
        [finding] = [i for i in review.queue(session) if i["subject"].startswith("rescan:")]
        decided = review.decide(
            session, missed, "uphold", reason="threat", reviewer="ana", subject=finding["subject"]
        )
    assert decided.effects["strike_added"] and decided.effects["suspended"]
    assert (message_status(missed), user_status(sender)) == ("hidden", "suspended")
    assert _count(UserStrike, user_id=sender) == 2
    with session_scope() as session:
        again = review.decide(
            session, missed, "uphold", reason="x", reviewer="bo", subject=finding["subject"]
        )
    assert not again.applied
    assert _count(UserStrike, user_id=sender) == 2


def test_rescan_rejects_a_bad_since() -> None:
    result = CliRunner().invoke(main, ["moderation", "rescan", "--since", "last tuesday"])
    assert result.exit_code == 2
    assert "not an ISO date" in result.output


def _doc_blocks(kind: str) -> list[str]:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "moderation.md").read_text("utf-8")
    section = doc.split("## Human review", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{kind}\n(.*?)```", section, flags=re.S)


def test_the_documented_appeal_sql_and_commands_work_as_written(review_db: str) -> None:
    sender = make_user()
    message = judged(sender, "I will kill you")
    [appeal_sql] = _doc_blocks("sql")
    statement = appeal_sql.replace("$1", "%s").replace("$2", "%s").replace("$3", "%s")
    with session_scope() as session, driver_cursor(session) as cursor:
        for _ in range(2):  # the second appeal changes nothing
            cursor.execute(statement, (message, sender, "a film quote"))
    with session_scope() as session:
        assert review.queue(session)[0]["appealed"] is True

    [commands] = _doc_blocks("sh")
    example = "2f1c0c57-5d0e-4d5e-9f43-7f0c9b0a1d11"
    outputs = []
    for line in commands.strip().splitlines():
        argv = shlex.split(line.replace(example, str(message)))
        assert argv[0] == "yoked"
        result = CliRunner().invoke(main, argv[1:])
        assert result.exit_code == 0, (line, result.output)
        outputs.append(result.output)
    assert str(message) in outputs[0]
    assert outputs[2].startswith("overturned (decided)")
    assert (message_status(message), user_status(sender)) == ("clean", "active")


def test_eval_reports_overturn_rates_per_category_as_measured_false_alarms(
    review_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = make_user()
    threat, contact = judged(sender, "I will kill you"), judged(sender, "add me on snap: jlifts")
    with session_scope() as session:
        review.decide(session, threat, "overturn", reason="film quote", reviewer="ana")
        review.decide(session, contact, "uphold", reason="contact", reviewer="ana")
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "lines.tsv").write_text("threats\tI will kill you\n", "utf-8")
    monkeypatch.setenv("DATABASE_URL", review_db)
    get_settings.cache_clear()  # read once per process; the job above already read it
    result = CliRunner().invoke(main, ["moderation", "eval", "--corpus", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "overturned off_platform: 0/1" in result.output
    assert "overturned threats: 1/1" in result.output
