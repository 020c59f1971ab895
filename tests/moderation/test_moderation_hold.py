"""The hold, on the real database: a grave category only the learned classifier finds hides the
message, strikes once and waits first in the review queue without suspending; a person's uphold
suspends exactly once, an overturn restores exactly once; the rules' grave findings still
suspend at once."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from moderation_support import (
    event_for,
    judged,
    make_message,
    make_user,
    message_status,
    result_of,
    user_status,
)
from sqlalchemy import func, select

from yoked_actors import events
from yoked_actors.cli import main
from yoked_actors.db import session_scope
from yoked_actors.jobs import get_job
from yoked_actors.models.contract import Notification
from yoked_actors.models.moderation import ModerationResult, UserStrike
from yoked_actors.moderation import moderate, review
from yoked_actors.queues import Queue
from yoked_actors.settings import get_settings

#: Written for these tests: the shipped head judges it a threat, no lexicon or detector does.
#: (Found with `yoked moderate --json`, learned part on and off.)
LEARNED_THREAT = "i know where you park your car and i will be waiting"
#: The rules find harassment here (not grave); only the head finds self-harm encouragement.
LEARNED_SELF_HARM = "you should just end it all, nobody wants you around"
#: The rules find this threat themselves.
RULES_THREAT = "I will kill you"


@pytest.fixture(autouse=True, scope="module")
def _the_lines_are_what_they_claim() -> None:
    """Fails clearly, instead of testing nothing, if a retrained head stops finding them."""
    mp = pytest.MonkeyPatch()
    try:
        for learned, expected_rules in (("off", ["clean", "flagged"]), ("on", ["hidden"] * 2)):
            mp.setenv("MODERATION_LEARNED", learned)
            get_settings.cache_clear()
            decisions = [moderate(t).decision for t in (LEARNED_THREAT, LEARNED_SELF_HARM)]
            assert decisions == expected_rules, (
                f"with MODERATION_LEARNED={learned} the test lines are judged {decisions}: pick"
                " lines the shipped head scores grave and the rules do not (yoked moderate --json)"
            )
    finally:
        mp.undo()
        get_settings.cache_clear()


def _strikes(user: uuid.UUID) -> list[tuple[str, bool]]:
    with session_scope() as session:
        return [
            (s.decision, s.held)
            for s in session.scalars(select(UserStrike).where(UserStrike.user_id == user))
        ]


def _safety(user: uuid.UUID) -> list[Notification]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(Notification)
                .where(Notification.user_id == user, Notification.kind == "safety")
                .order_by(Notification.id)
            )
        )


def _decide(message: uuid.UUID, action: str, reviewer: str = "ana") -> str:
    result = CliRunner().invoke(
        main,
        [
            "moderation",
            "review",
            "decide",
            str(message),
            action,
            "--reason",
            "r",
            "--reviewer",
            reviewer,
        ],
    )
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_the_verdict_says_which_categories_the_rules_found() -> None:
    threat, self_harm, rules = (
        moderate(t) for t in (LEARNED_THREAT, LEARNED_SELF_HARM, RULES_THREAT)
    )
    assert (threat.categories, threat.rules_categories, threat.held) == (["threats"], [], True)
    assert self_harm.rules_categories == ["harassment"] and "self_harm" in self_harm.categories
    assert self_harm.held  # a non-grave rules finding does not make the grave one the rules'
    assert (rules.decision, rules.rules_categories, rules.held) == ("hidden", ["threats"], False)
    assert moderate("see you at 6").as_dict()["held"] is False

    result = CliRunner().invoke(main, ["moderate", "--text", LEARNED_THREAT, "--json"])
    assert result.exit_code == 0
    assert '"held": true' in result.output and '"rules_categories": []' in result.output


def test_a_learned_only_grave_message_delivered_twice_is_hidden_struck_once_and_not_suspended(
    rabbitmq_broker: RabbitmqBroker, worker: Worker
) -> None:
    sender = make_user()
    message = make_message(sender, make_user(), LEARNED_THREAT)
    payload = event_for(message, sender, content=LEARNED_THREAT)

    for _ in range(2):  # at-least-once delivery
        events.emit("message.sent", payload)
    rabbitmq_broker.join(Queue.MODERATION, timeout=30_000)
    worker.join()

    result = result_of(message)
    assert result is not None
    assert (result.decision, result.categories, result.rules_categories, result.held) == (
        "hidden",
        ["threats"],
        [],
        True,
    )
    assert message_status(message) == "hidden"  # the recipient does not see it meanwhile
    assert _strikes(sender) == [("hidden", True)]
    assert user_status(sender) == "active"
    [notice] = _safety(sender)
    assert notice.payload == {
        "messageId": str(message),
        "decision": "hidden",
        "categories": ["threats"],
        "strikes": 1,
        "suspended": False,
        "heldForReview": True,
    }
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ModerationResult)) == 1


def test_held_verdicts_come_first_and_an_uphold_suspends_exactly_once(review_db: str) -> None:
    sender = make_user()
    appealed = judged(make_user(), RULES_THREAT)  # older, appealed, not held
    flagged = judged(make_user(), "add me on snap: jlifts")
    held = judged(sender, LEARNED_THREAT)
    with session_scope() as session:
        review.appeal(session, appealed, make_user(), "a film quote")
        queue = review.queue(session)
    assert [(i["message_id"], i["held"], i["appealed"]) for i in queue] == [
        (held, True, False),
        (appealed, False, True),
        (flagged, False, False),
    ]
    listed = CliRunner().invoke(main, ["moderation", "review", "list"]).output.splitlines()
    assert listed[0].startswith(f"{held}\tverdict\thidden\tthreats\theld\t")
    shown = json.loads(CliRunner().invoke(main, ["moderation", "review", "show", str(held)]).output)
    assert (shown["result"]["held"], shown["result"]["rules_categories"]) == (True, [])

    assert _decide(held, "uphold") == (
        "upheld (decided): notified true, strike_confirmed true, suspended true"
    )
    assert (user_status(sender), message_status(held), _strikes(sender)) == (
        "suspended",
        "hidden",
        [("hidden", False)],
    )
    review_notice = _safety(sender)[-1]
    assert review_notice.dedupe_key == f"safety-review:{held}:verdict"
    assert review_notice.payload["suspended"] is True

    for action in ("uphold", "overturn"):
        assert _decide(held, action, reviewer="bo").startswith(
            "upheld (already decided, nothing changed)"
        )
    assert (user_status(sender), len(_safety(sender)), _strikes(sender)) == (
        "suspended",
        2,
        [("hidden", False)],
    )
    with session_scope() as session:
        assert held not in [i["message_id"] for i in review.queue(session)]


def test_overturning_a_held_verdict_restores_the_message_and_strike_exactly_once(
    review_db: str,
) -> None:
    sender = make_user()
    message = judged(sender, LEARNED_SELF_HARM)
    assert (message_status(message), _strikes(sender), user_status(sender)) == (
        "hidden",
        [("hidden", True)],
        "active",
    )

    assert _decide(message, "overturn") == (
        "overturned (decided): notified true, restored true, strike_removed true, unsuspended false"
    )
    assert (message_status(message), _strikes(sender), user_status(sender)) == (
        "clean",
        [],
        "active",
    )
    notices = len(_safety(sender))
    assert _decide(message, "overturn", reviewer="bo").startswith(
        "overturned (already decided, nothing changed)"
    )
    assert (message_status(message), _strikes(sender), len(_safety(sender))) == (
        "clean",
        [],
        notices,
    )
    assert result_of(message).held is True  # type: ignore[union-attr]  # history kept


def test_a_held_strike_counts_towards_the_limit_but_keeps_no_suspension_by_itself(
    review_db: str,
) -> None:
    sender = make_user()
    first = judged(sender, "add me on snap: jlifts")
    judged(sender, "venmo me 50")
    assert user_status(sender) == "active"
    judged(sender, LEARNED_THREAT)  # the third strike within 30 days
    assert user_status(sender) == "suspended"

    with session_scope() as session:  # two strikes left, one of them held: not grave yet
        decided = review.decide(session, first, "overturn", reason="a gym", reviewer="ana")
    assert decided.effects["unsuspended"] is True
    assert user_status(sender) == "active"


def test_a_grave_finding_of_the_rules_still_suspends_at_once(review_db: str) -> None:
    sender = make_user()
    message = make_message(sender, make_user(), RULES_THREAT)

    summary = get_job("moderation.moderate_message").run(event_for(message, sender, RULES_THREAT))

    assert summary == {"recorded": 1, "strikes": 1, "suspended": 1, "held": 0}
    assert result_of(message).held is False  # type: ignore[union-attr]
    assert (user_status(sender), _strikes(sender)) == ("suspended", [("hidden", False)])
    assert _safety(sender)[0].payload["heldForReview"] is False
