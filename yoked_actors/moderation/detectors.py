"""Detectors of contact details and money: phone numbers, emails, handles, links, crypto.

They read the ``plain`` view (digits as typed). Each returns a score per category and the names
of what fired (``"phone"``, ``"email"``, ...), never the matched text: a phone number is personal
data and must not reach the results table, logs or Sentry.

Gym talk is full of numbers ("squat 315 405", "1200 kcal", "5x5 @ 100", "3 sets of 12"): a run
of digits is a phone number only when it has the length and shape of one (10-15 digits in
phone-like groups, or a 7-digit local number written with a dash), or when it is spelled out in
words ("five five five ...").
"""

from __future__ import annotations

import re

TLDS = (
    "com|net|org|io|me|co|ly|gg|app|xyz|info|biz|us|uk|de|fr|ru|cn|link|site|online|shop|club|"
    "live|tv|to|cc|ai|dev|page|store|fun|vip|top"
)
_DOT = r"(?:\s*\.\s*|\s*[\(\[\{<]\s*(?:dot|\.)\s*[\)\]\}>]\s*|\s+dot\s+)"
_AT = r"(?:\s*@\s*|\s*[\(\[\{<]\s*at\s*[\)\]\}>]\s*|\s+at\s+)"

_URL = re.compile(r"(?:https?\s*:\s*/\s*/|www\s*\.)\S+")
_DOMAIN = re.compile(rf"(?<![a-z0-9@])[a-z0-9][a-z0-9-]{{1,62}}{_DOT}(?:{TLDS})(?![a-z0-9])")
_EMAIL = re.compile(
    rf"[a-z0-9][a-z0-9._%+-]{{0,63}}{_AT}[a-z0-9-]{{2,63}}(?:{_DOT}[a-z0-9-]{{2,63}})*{_DOT}(?:{TLDS})"
    r"(?![a-z0-9])"
)
#: "@name" not preceded by a word character (that would be an email) and not a gym "@ 100kg".
_HANDLE = re.compile(r"(?<![\w.])@[a-z_][a-z0-9_.]{2,29}(?![a-z0-9_@])")
_PHONE_CANDIDATE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().\-]{5,22}\d(?![\w.])")
_LOCAL_PHONE = re.compile(r"(?<![\w.])\d{3}[-.]\d{4}(?![\w.])")
_UNITS_AFTER = re.compile(
    r"\s*(kg|kgs|lb|lbs|kcal|cal|cals|calories|reps?|sets?|x|m|km|mi|min|mins|sec|secs|s|steps|"
    r"g|grams|pounds|kilos|%)\b"
)
_NUMBER_WORDS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_SPELLED = re.compile(
    r"(?:(?:" + "|".join(_NUMBER_WORDS) + r"|\d)[\s,.-]*){7,}", flags=re.IGNORECASE
)
_BTC = re.compile(r"(?<![a-z0-9])(?:bc1[a-z0-9]{25,60}|[13][a-km-z1-9]{25,34})(?![a-z0-9])")
_ETH = re.compile(r"(?<![a-z0-9])0x[0-9a-f]{40}(?![0-9a-f])")
_CRYPTO_WORDS = re.compile(
    r"(?<![a-z])(bitcoin|btc|ethereum|eth|usdt|tether|crypto wallet|wallet address|binance|"
    r"coinbase|trust wallet|metamask|seed phrase)(?![a-z])"
)


def _is_phone(span: str, text_after: str) -> bool:
    digits = re.sub(r"\D", "", span)
    if not 10 <= len(digits) <= 15:
        return False
    groups = re.split(r"[\s().\-]+", span.strip("+( "))
    groups = [group for group in groups if group]
    if _UNITS_AFTER.match(text_after):
        return False
    if span.lstrip().startswith(("+", "(")) or any(sep in span for sep in "-.()"):
        return True
    if len(groups) == 1 or all(len(group) == 1 for group in groups):
        # 10+ digits written together (not a weight, a calorie count or a time), or spaced out
        # digit by digit ("5 5 5 1 2 3 ...").
        return True
    # Space-separated: phones come as 3-3-4, 4-3-3, 2-2-2-2-2 (starting with 0) and the like;
    # "315 405 495 585" (a list of weights) are all 3-digit groups.
    if all(len(group) == 3 for group in groups):
        return False
    return any(len(group) >= 4 for group in groups) or digits.startswith("0")


def detect(plain: str) -> tuple[dict[str, float], list[str]]:
    """Scores per category (``off_platform``, ``payment``) and the names of what fired."""
    found: list[str] = []
    tokens = plain.split()
    # Spelled out letter by letter ("j e s s @ g m a i l . c o m"): read it without the spaces.
    spaced_out = len(tokens) >= 6 and sum(len(token) == 1 for token in tokens) * 2 > len(tokens)
    views = (plain, "".join(tokens)) if spaced_out else (plain,)
    if any(_URL.search(view) or _DOMAIN.search(view) for view in views):
        found.append("link")
    if any(_EMAIL.search(view) for view in views):
        found.append("email")
    if _HANDLE.search(plain):
        found.append("handle")
    phone = any(
        _is_phone(match.group(0), plain[match.end() :])
        for match in _PHONE_CANDIDATE.finditer(plain)
    )
    if not phone:
        phone = bool(_LOCAL_PHONE.search(plain))
    if not phone:
        for match in _SPELLED.finditer(plain):
            words = re.findall(r"[a-z]+|\d", match.group(0))
            if sum(1 for word in words if word in _NUMBER_WORDS) >= 4:
                phone = True
                break
    if phone:
        found.append("phone")
    crypto = bool(_BTC.search(plain) or _ETH.search(plain))
    if crypto:
        found.append("crypto_address")
    elif _CRYPTO_WORDS.search(plain):
        found.append("crypto")

    scores: dict[str, float] = {}
    contact = {"link": 0.9, "email": 0.95, "handle": 0.7, "phone": 0.95}
    for name, score in contact.items():
        if name in found:
            scores["off_platform"] = max(scores.get("off_platform", 0.0), score)
    if "crypto_address" in found:
        scores["payment"] = 0.95
    elif "crypto" in found:
        scores["payment"] = 0.7
    return scores, found
