"""Lexicons: phrases per category, matched on the ``squeezed`` view of a text.

Each entry is a regular expression over lower-case words (a space between words matches any run
of spaces, or none); it is squeezed like the text (repeated letters cut to one) and wrapped in word
boundaries. Squeezing makes some words another word ("coon" -> "con", Spanish and Italian for
"with"; "off yourself" -> "of yourself", as in "proud of yourself"; "noods" -> "nods"; "shoot"
-> "shot"): the terms in :data:`EXACT` keep their double letters and are matched on the ``words``
view, where a run of one letter is cut to two ("offfff" -> "off") but never to one.

A score is the engine's confidence that a match means the category; anything at or above
:data:`yoked_actors.moderation.decision.THRESHOLD` counts.

Gym talk is full of violent and bodily words ("killer workout", "I'm dying", "ass to grass",
"hit me up at the gym"): entries here are phrases aimed at a person, not single words, wherever a
single word would catch those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

YOU = r"(you|u|ya|yu|yo|ur|your|youre|you're|yourself|urself|ye)"
I_WILL = (
    r"(i'll|ill|i will|1 will|1'll|im going to|i'm going to|im gonna|i'm gonna|i'd|i would|imma|"
    r"ima|i'm coming to|im coming to)"
)

TERMS: dict[str, list[tuple[str, float]]] = {
    "harassment": [
        (r"(fuck|fck|fk|screw) (you|u|off|yourself|urself)", 0.95),
        (r"go fuck", 0.95),
        (r"stfu|gtfo|foad", 0.9),
        (r"shut the fuck up", 0.9),  # a bare "shut up" is mostly disbelief: "shut up, no way"
        (
            r"(you|u|ur|your|youre|you're|you are|ya) (a |an |such a |so |fucking |fat |"
            r"stupid |little |absolute |complete |total )*"
            r"(idiot|moron|stupid|dumb|loser|bitch|slut|whore|cunt|pig|cow|retard|retarded|trash|"
            r"garbage|ugly|pathetic|worthless|freak|creep|skank|twat|prick|dick|dickhead|asshole|"
            r"dumbass|jackass|bastard|wanker|douche|douchebag|clown|joke|disgusting)",
            0.95,
        ),
        (
            r"(stupid|dumb|ugly|fat|fucking|worthless|pathetic) (bitch|slut|whore|cunt|cow|"
            r"pig|loser|"
            r"idiot|moron|retard|bastard|twat|prick)",
            0.95,
        ),
        (r"(cunt|bitch|slut|whore|skank|twat|dickhead|asshole|dumbass|motherfucker|retard)", 0.7),
        (r"kiss my ass|eat shit|piece of shit|son of a bitch", 0.95),
        (r"no one (likes|wants) (you|u)|nobody (likes|wants) (you|u)", 0.8),
    ],
    "threats": [
        # First person only: "this program will kill you" is gym talk, "I will kill you" is not.
        # Not followed by " at": "I'll kill you at wall balls" is a contest.
        (
            I_WILL
            + r" (kill|murder|stab|hurt|strangle|rape|punch|slap|beat up) "
            + YOU
            + r"(?! at(?![a-z]))",
            0.95,
        ),
        # Verbs with an everyday sense ("I'll find you at the racks", "I'll beat you to the gym",
        # "I'll cut you a slice", "I'll shoot you a text", "I'll beat your PR"): only
        # the person as the object, and not followed by what the everyday sense takes.
        (
            I_WILL + r" (find|hunt|beat|choke|cut|shoot) (you|u|ya|yu|ye)"
            r"(?! (a|an|some|at|on|in|to|out|by|after|before|there|later|tomorrow|first|when|the"
            r")(?![a-z]))",
            0.95,
        ),
        (r"i know where (you|u) (live|sleep)", 0.95),
        # On the training split these match as much gym talk as threat ("watch your back on
        # squats", "you're dead meat in the plank contest", "I know where you train, let's
        # train together"): below the threshold, so the learned classifier decides.
        (r"(watch|better watch) (your|ur) back|i know where (you|u) (work|train)", 0.45),
        (r"(you|u|you're|youre|ur|you are) (dead|gonna die|going to die)( meat|)( |$)", 0.45),
        (r"(you're|youre|ur|you are) finished( |$)", 0.45),
        (r"(beat|kick|punch) the (shit|crap|hell) out of (you|u)", 0.95),
        (r"(cut|slit) (your|ur) throat|put (you|u) in (the|a) (ground|hospital|grave)", 0.95),
        (r"(you'll|youll|you will) (regret|pay for) (this|it)", 0.7),
    ],
    "hate": [
        (
            r"(nigger|niger|nigg|faggot|fagot|kike|chink|spic|wetback|tranny|raghead|"
            r"towelhead|sandnigger|gook|beaner|paki|kaffir|gypo|zipperhead|shemale)s?",
            0.95,
        ),
        # Words their communities reclaim ("our little dyke squad"), or that mean something
        # else too (a "fag" is a cigarette in British English): the learned classifier decides.
        (r"(nigga|fag|dyke)s?", 0.45),
        (
            r"(all|those|these|fucking|dirty|filthy) (muslims|jews|blacks|gays|immigrants|mexicans|"
            r"arabs|asians|trans people|indians|africans|women|lesbians) (are|should|must|deserve|"
            r"need to)",
            0.9,
        ),
        (r"go back to (your|ur) (own |)(country|village|cave|jungle)", 0.95),
        (
            r"(gas|hang|deport|exterminate|lynch) (all |the |)(the |)(jews|gays|blacks|muslims|"
            r"immigrants|trans)",
            0.95,
        ),
        (r"white power|heil hitler|sieg heil|1488|gas the", 0.95),
    ],
    "sexual": [
        (
            r"(send|show|want|see) (me |)(your |ur |some |)(nudes|nude|noods|tits|boobs|pussy|dick|"
            r"cock|naked (pics|photos|pictures)|feet pics)",
            0.95,
        ),
        (r"nudes|nudez|nudz|dick pic|dickpic|nsfw pics|sext|sexting", 0.9),
        (
            r"(suck|lick|ride|touch|grab|feel) (my|your|ur) (dick|cock|pussy|tits|boobs|balls|ass)",
            0.95,
        ),
        (r"(fuck|bang|screw|smash) (me|you|u) (hard|tonight|after)", 0.95),
        (r"(want to|wanna|let's|lets|gonna) (fuck|bang|have sex|hook up|smash)", 0.9),
        (
            r"(blowjob|handjob|blow job|hand job|cum|cumming|horny|dtf|sex tonight|onlyfans|"
            r"naked|sex)",
            0.75,
        ),
        (r"(your|ur|nice|big|great) (tits|boobs|dick|cock|pussy)", 0.9),
        (r"sit on my (face|lap|dick)", 0.95),
    ],
    "self_harm": [
        (
            r"(kill|hang|end) (yourself|urself|yourselves|your self|ur self|ur life|your life)",
            0.97,
        ),
        (
            r"kys|go die|just die|drink bleach|slit (your|ur) wrists|jump off a (bridge|roof|"
            r"building)",
            0.97,
        ),
        (r"(you|u) should (die|just die|not exist|kill yourself|end it)", 0.97),
        (r"(nobody|no one) would miss (you|u)|world (would be|is) better without (you|u)", 0.95),
        (r"(do|please) (the world|us all|everyone) a favou?r and die", 0.97),
        (r"hope (you|u) (die|get cancer|starve)", 0.9),
    ],
    "scam": [
        (r"investment (opportunity|plan|platform)|guaranteed (returns|profit|income)", 0.9),
        (r"double (your|ur) (money|investment|bitcoin|crypto)", 0.95),
        (
            r"(forex|crypto|bitcoin|binary options) (trading|trader|signals|mentor|investment|"
            r"platform|expert)",
            0.9,
        ),
        (r"(trading|investment) (mentor|account manager|signals)", 0.85),
        (r"(verify|confirm|unlock) (your|ur) (account|identity|wallet)", 0.85),
        (
            r"(you've|you have|youve|u have) won|claim (your|ur) (prize|reward|gift)|"
            r"lottery winner",
            0.9,
        ),
        (r"sugar (daddy|mommy|mama|baby)|allowance weekly", 0.9),
        (r"(passive|easy|fast|quick) (income|money|cash)|make \$?\d+k? (a|per) (day|week)", 0.85),
        (r"(click|tap|open) (this|the|my) link", 0.7),
        (
            r"recovery (fee|agent)|(send|pay) (a |the |)(fee|deposit) (first|to (unlock|release))",
            0.85,
        ),
        (r"stuck (at|in) (customs|the airport)|need money for (a |my |)(flight|ticket|visa)", 0.85),
    ],
    "payment": [
        (
            r"venmo|cash ?app|cashapp|zelle|pay ?pal|western union|moneygram|revolut|wise transfer",
            0.8,
        ),
        (
            r"(send|pay|give|lend|loan|wire|transfer) (me|us) (\$\d*|£\d*|€\d*|\d+|money|cash|"
            r"some money|the money)",
            0.9,
        ),
        (r"(gift ?card|itunes card|google play card|steam card|amazon card)s?", 0.85),
        (
            r"(pay|paying) (me|upfront|up front|in advance)|upfront payment|\$\d+ (per|an|"
            r"a) (hour|session)",
            0.75,
        ),
        (r"(bank|account) (details|number|info)|iban|routing number|sort code", 0.8),
    ],
    "off_platform": [
        (
            r"(add|follow|dm|message|msg|text|find|hit) (me|us) (up |)(on|at|@) (insta|"
            r"instagram|ig|"
            r"snap|snapchat|sc|telegram|tg|whatsapp|whats app|wa|kik|discord|tiktok|fb|facebook|"
            r"twitter|x|signal|wechat|line|viber|onlyfans)",
            0.95,
        ),
        (
            r"(my|his|her|our) (insta|instagram|ig|snap|snapchat|sc|telegram|tg|whatsapp|kik|"
            r"discord|"
            r"tiktok|signal|wechat|onlyfans|number|cell|phone number|email|e-mail)( is|:| -| =|$)",
            0.9,
        ),
        (
            r"(insta|instagram|ig|snap|snapchat|telegram|whatsapp|kik|discord|signal|"
            r"wechat)( ?:| is| -)",
            0.7,
        ),
        (r"(text|call|ring|whatsapp|email|e-mail) me (at|on)", 0.9),
        (
            r"(let's|lets|we should|can we|wanna|want to) (talk|chat|move|continue|"
            r"switch) (on|to|over "
            r"to|over on) (insta|instagram|ig|snap|snapchat|telegram|whatsapp|kik|discord|signal|"
            r"wechat|text|email|another app)",
            0.95,
        ),
        (r"(talk|chat|continue) outside (this|the) app", 0.85),
    ],
}


#: Terms whose double letters tell them from an everyday word once squeezed (see the module's
#: docstring): matched as written on the ``words`` view.
EXACT: dict[str, list[tuple[str, float]]] = {
    "hate": [(r"coons?", 0.95)],
    "sexual": [(r"noods|noodz", 0.9)],
    "self_harm": [
        (r"(off|shoot) (yourself|urself|yourselves|your self|ur self|ur life|your life)", 0.97)
    ],
    "off_platform": [(r"(talk|chat|continue) off (this|the) app|off (this|the) app", 0.85)],
}


#: The highest score a lexicon entry keeps in a message that reports, quotes or jokes
#: (:func:`reported_or_joking`): below the threshold, so the learned classifier decides, and a
#: grave line it hides is held for a person instead of suspending its sender at once.
CONTEXT_CAP = 0.45
# Someone else's words ("he told me to kys, reported him", a quote in quotation marks) or a joke
# ("I'll kill you if you eat my leftovers 😂"). On the training split's 25,434 clean lines the
# rules of 2026.12.1 hid 115 at once, most of them victims reporting what was said to them,
# quotes and jokes; with this cap and the reclaimed words at 0.45, 32 (2026.12.2).
_REPORTED = re.compile(
    r"[\"“”«»]|(?<![a-z])(told (me|him|her|them|my|us)|said|says|saying|got called"
    r"|called (me|him|her|my|us)|sent (me|him|her|my|us)|messaged me|texted me|dm'?d me"
    r"|got a (message|dm|text)|report(ed|ing)?|screenshot\w*|blocked (him|her|them|it|the)"
    r"|comments)(?![a-z])"
)
_JOKING = re.compile(r"😂|🤣|😆|😜|(?<![a-z])(lol|lmao|haha\w*|jk|kidding|lovingly)(?![a-z])")


def reported_or_joking(plain: str) -> bool:
    """Whether ``plain`` (the ``plain`` view) reports or quotes someone's words, or jokes."""
    return bool(_REPORTED.search(plain) or _JOKING.search(plain))


@dataclass(frozen=True)
class Lexicon:
    """One category's entries, compiled: those read on the squeezed view, then the exact ones
    read on the words view."""

    category: str
    entries: tuple[tuple[re.Pattern[str], float], ...]
    exact: tuple[tuple[re.Pattern[str], float], ...] = ()

    def score(self, squeezed: str, words: str = "") -> float:
        """The highest score of an entry found in ``squeezed`` or, for an exact entry, in
        ``words`` (0.0 if none)."""
        best = 0.0
        for entries, text in ((self.entries, squeezed), (self.exact, words)):
            for pattern, score in entries:
                if score > best and pattern.search(text):
                    best = score
        return best


_REPEATED_LETTER = re.compile(r"([a-z])\1+")


def _compile(term: str, squeeze: bool = True) -> re.Pattern[str]:
    # Squeeze letters only: the regular-expression syntax ("))") must stay as written.
    # Words may also run together: spaced-out letters are joined ("k i l l y o u" -> "killyou").
    body = (_REPEATED_LETTER.sub(r"\1", term) if squeeze else term).replace(" ", r"\s*")
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")


LEXICONS: tuple[Lexicon, ...] = tuple(
    Lexicon(
        category,
        tuple((_compile(term), score) for term, score in entries),
        tuple((_compile(term, squeeze=False), score) for term, score in EXACT.get(category, [])),
    )
    for category, entries in TERMS.items()
)
