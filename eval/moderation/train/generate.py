"""Writes ``generated.tsv``: the templated part of the moderation training corpus.

Deterministic (a fixed seed, sorted output): running it twice gives the same file, and
``yoked moderation train`` reads that file together with the hand-written lines beside it and
the original evaluation set (eval/moderation/abusive.tsv, clean.txt). The test split
(eval/moderation/test/) is never read here.

Usage: python eval/moderation/train/generate.py
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
PER_CATEGORY = 450

YOU = ["you", "u", "ya"]
INSULT = ["idiot", "moron", "loser", "clown", "creep", "freak", "joke", "waste of space",
          "pig", "cow", "slob", "weirdo", "failure", "nobody", "dumbass", "tool", "mess",
          "disgrace", "parasite", "coward", "fraud", "lowlife", "pathetic", "useless", "worthless",
          "ugly", "stupid", "dumb", "gross", "trash", "garbage"]
BODY = ["leg", "arm", "jaw", "neck", "knees", "ribs", "nose", "fingers", "skull", "face", "teeth",
        "spine", "back"]
PLACE = ["the gym", "your place", "the parking lot", "your car", "your work", "the locker room",
         "the park", "your house", "the bus stop", "the track", "your door"]
GROUP = ["immigrants", "women", "gay people", "muslims", "jews", "black people", "trans people",
         "mexicans", "asians", "arabs", "refugees", "disabled people", "christians", "indians",
         "gays", "lesbians", "old people", "foreigners", "africans", "chinese people", "hindus",
         "latinos", "fat women", "migrants", "gypsies", "autistic people"]
DEHUMAN = ["animals", "vermin", "parasites", "subhuman", "a disease", "filth", "rats",
           "cockroaches", "scum", "inferior", "criminals", "terrorists", "freaks", "mentally ill",
           "an abomination", "a plague", "savages", "dirty", "stupid", "worthless"]
DRUG = ["test e", "tren", "dbol", "anavar", "winstrol", "deca", "sust", "hgh", "clen", "anadrol",
        "sarms", "rad140", "mk677", "oxy", "xanax", "adderall", "coke", "molly", "weed", "ket",
        "meth", "peptides", "gear", "test cyp", "primo", "masteron", "tabs", "percs", "lean",
        "mdma", "shrooms", "steroids", "juice", "var", "tbol"]
APP = ["snap", "snapchat", "insta", "ig", "instagram", "whatsapp", "telegram", "kik", "discord",
       "signal", "facebook", "fb", "tiktok", "wechat", "line", "viber", "twitter", "x"]
PAY = ["venmo", "cashapp", "cash app", "paypal", "zelle", "revolut", "wise", "apple pay",
       "western union", "moneygram", "gift cards", "bank transfer", "wire", "usdt", "crypto"]
NAME = ["jake", "mia", "coach_t", "liftlife", "gymbro", "fitkat", "big.sam", "deadlift_dan",
        "sarah.fit", "repsforjesus", "ironmike", "legday_lu", "swole99", "bench_bella"]
EXERCISE = ["squat", "bench", "deadlift", "press", "row", "pull ups", "lunges", "curls",
            "hip thrusts", "cleans", "snatches", "rdls", "dips", "leg press", "sprints", "burpees",
            "rows", "kettlebell swings", "box jumps", "wall balls"]
TIME = ["6am", "7", "tomorrow", "tonight", "saturday", "after work", "at noon", "monday", "5:30",
        "this evening", "next week", "friday morning"]
MONEY = ["50", "100", "300", "500", "1000", "2k", "5k", "$200", "$40", "20 bucks", "80 quid"]

TEMPLATES: dict[str, list[str]] = {
    "harassment": [
        "{you}'re such a {insult}", "{insult}", "what a {insult}", "shut up {insult}",
        "nobody likes {you}, {insult}", "{you} lift like a {insult}", "get lost {insult}",
        "{you} absolute {insult}", "stop texting me {insult}", "lol {you} are {insult}",
        "imagine being this {insult}", "{you} disgust me", "no one wants to train with a {insult}",
        "{you} look like a {insult} in that gym", "piss off {insult}", "ur so {insult} it hurts",
        "go away", "shut up", "{you} make me sick", "{you}'re an embarrassment",
        "cry about it {insult}", "f off", "{you} are a waste of oxygen",
        "your face is as {insult} as your form", "no wonder nobody matches with {you}",
    ],
    "threats": [
        "i'll break your {body}", "i'm going to wait for {you} at {place}",
        "i'll be outside {place} when {you} leave", "hope someone breaks your {body}",
        "watch what happens to your {body} next time", "you won't walk out of {place}",
        "i know where {place} is, see {you} soon", "one more word and i come to {place}",
        "i'll put {you} in the hospital", "{you} better not show up at {place} {time}",
        "i'll smash your {body} in", "someone should hurt {you}", "hope {you} get hit by a car",
        "i'll make {you} bleed", "{you}'re going to regret this", "i'll end {you}",
        "wish {you} would die", "i'll burn {place} down with {you} in it",
        "keep talking and lose your {body}", "i'm bringing people to {place} {time}",
        "i'll find {you}", "i have your address", "sleep with one eye open",
        "i'll knock {you} out at {place}", "i'll cut {you}", "{you}'ll never lift again after i'm done",
    ],
    "hate": [
        "{group} are {dehuman}", "all {group} are {dehuman}", "{group} should go back where they came from",
        "i don't train with {group}", "{group} shouldn't be allowed in {place}",
        "{group} are ruining this country", "typical, {group} are all the same, {dehuman}",
        "get rid of all {group}", "the world would be better without {group}",
        "{group} don't deserve rights", "keep {group} out of the gym",
        "your kind is {dehuman}", "people like you, {group}, are {dehuman}",
        "{group} can't lift, they're {dehuman}", "go back to your own country",
        "{group} should be banned", "never trust {group}, they're {dehuman}",
    ],
    "sexual": [
        "send me a pic of your {part}", "wanna see my {part}", "i want to {act} you",
        "your {part} looks so hot in those {clothes}", "show me your {part}",
        "send nudes", "let's hook up after {exercise}", "i'm so horny for you",
        "i'd {act} you right on the {equipment}", "what are you wearing under those {clothes}",
        "take off your {clothes} for me", "i jerked off to your pics", "bet you're wild in bed",
        "sit on my face", "can i see you naked", "you make me so hard", "wanna fuck",
        "i want to taste you", "your {part} is making me horny",
    ],
    "coercion": [
        "send me nudes or i'll {expose}", "if you don't send pics i'll {expose}",
        "pay me {money} or i'll {expose}", "do what i say or i'll {expose}",
        "i have your photos, {expose} unless you send more", "send a video or i'll {expose}",
        "meet me tonight or i'll {expose}", "you owe me pics after i helped you",
        "you're going to sleep with me whether you like it or not",
        "you don't have a choice, send it", "stop saying no, you know you want it",
        "no one will believe you if you tell", "strip on camera or i'll {expose}",
        "send more or the ones you sent go public", "if you block me i'll {expose}",
        "you'll do it because i said so, or i'll {expose}",
    ],
    "self_harm": [
        "just kill yourself", "kys", "go {method}", "you should {method}",
        "nobody would miss you if you {method}", "do everyone a favour and {method}",
        "the world is better without you, {method}", "why don't you just {method}",
        "you don't deserve to live", "better off dead", "end it already",
        "honestly just {method}", "starve yourself, you'd look better",
        "you'd be doing us a favour if you never woke up", "just give up on living",
        "no one cares, {method}", "unalive yourself", "your family would be relieved if you were gone",
    ],
    "drugs": [
        "got {drug} in stock, dm me", "selling {drug}, {money} a {unit}", "need {drug}? i ship discreet",
        "i can sort you out with {drug}", "{drug} and {drug2} available, cash only",
        "plug for {drug} right here", "want some {drug} for {time}?", "{drug} for sale, message me",
        "i sell {drug}, cheap", "get your cycle from me, {drug} and {drug2}",
        "fresh batch of {drug}, {money}", "{drug} pharma grade, no prescription needed",
        "who needs {drug}? i got you", "{drug} {unit}s available {time}",
    ],
    "scam": [
        "i turned {money} into {money2} with my {coach}", "invest with my {coach}, guaranteed profit",
        "i can double your money in 48 hours", "send {money} and get {money2} back",
        "my {coach} made me {money2} in a week, want their number?",
        "passive income, be your own boss, ask me how", "earn {money2} a month from your phone",
        "you won a free {prize}, enter your card details to claim",
        "buy me some gift cards, i'll pay you back", "verify your account password at this link",
        "i'm stuck abroad, can you wire me {money}", "join my vip signals group for guaranteed profits",
        "{percent} returns every month with my {coach}", "limited spots in my {coach}'s program, {money} to join",
        "you've been selected, just pay the {money} fee", "crypto mining pool pays {percent} daily",
        "risk free trading, i'll coach you personally",
    ],
    "payment": [
        "send it to my {pay}", "{pay} me {money} first", "pay me on {pay}, skip the app fees",
        "i only take {pay}", "pay outside the app, {pay} is cheaper", "{pay} me and i'll send the plan",
        "my {pay} is @{name}", "{pay} only please", "transfer to my {pay} before the session",
        "send {money} via {pay} to book", "cash app ${name}", "venmo @{name}",
    ],
    "off_platform": [
        "add me on {app}", "my {app} is {name}", "what's your {app}", "let's move to {app}",
        "text me instead", "give me your number", "dm me on {app}, this app sucks",
        "find me on {app}, same name", "hit me up on {app}: {name}", "follow my {app} {name}",
        "message me on {app}", "lets talk on {app}", "call me, my number is in my {app}",
        "email me, it's {name} at gmail", "what's your number", "{app}: {name}",
    ],
    "clean": [
        "gonna kill this {exercise} {time}", "we destroyed {exercise} today", "i'm dying after {exercise}",
        "that {exercise} almost killed me", "let's murder some {exercise} {time}",
        "my {body} is killing me after {exercise}", "you crushed those {exercise}, beast",
        "i paid my coach {money} for the month", "how much does your coach charge?",
        "meet at {place} at {time}?", "i'll be waiting outside the gym at {time}",
        "{exercise} {num} for 5x5 at {time}", "i'm {num} lbs now, down from {num2}",
        "my {body} is toast", "that {exercise} session was brutal", "i hate {exercise} lol",
        "i could kill for a burger after {exercise}", "smash the {exercise} {time}",
        "attack the {exercise}", "go to failure on {exercise}", "drop set to death on {exercise}",
        "thanks for the spot on {exercise}", "nice work on the {exercise}, proud of you",
        "i'm so fat after the holidays lol", "this bar is stupid heavy", "fuck yeah new {exercise} pr",
        "shit i forgot my shoes", "my {body} hurts a bit, taking it easy", "hit the heavy bag {time}",
        "bjj {time}, gonna choke people out lol", "sparring {time}, bring a mouthguard",
        "the class is {money}, worth it", "i'll venmo you back for the coffee",
        "split the court fee? {money} each", "my profile says {num} but i'm {num2} now",
        "i'm {age}, looking for a {exercise} partner", "can you send the plan here in the chat?",
        "what time do you train {time}?", "rest day {time}, going for a walk",
        "the pump from {exercise} is insane", "i'm starving after {exercise}",
        "my trainer is a beast", "she's a savage on {exercise}", "i'm on prescribed trt, just fyi",
        "i take creatine and whey", "{exercise} at {place} {time}, you in?",
        "sorry i missed {time}, work ran late", "congrats on the meet!", "good luck {time}",
        "i'm gay and looking for a chill gym buddy", "i'm muslim so i train after iftar",
        "as a woman i prefer a female spotter", "i use a wheelchair, upper body days only",
        "my coach is going to kill us with {exercise}", "the heat is killing me",
        "i nearly died laughing", "i'm dead tired", "push until failure on the last set of {exercise}",
        "stab your heels into the floor on {exercise}", "grip the bar like you want to snap it",
        "we'll bury the competition", "the sauna almost cooked me", "i'm sober now, gym keeps me sane",
        "there's a killer deal on memberships", "ok", "yes", "no", "lol", "see ya", "ty",
        "{num} kcal today, {num3}g protein", "ran {num3}k this morning", "bench {num} x {reps}",
    ],
}

FILLERS = {
    "you": YOU, "insult": INSULT, "body": BODY, "place": PLACE, "time": TIME, "group": GROUP,
    "dehuman": DEHUMAN, "drug": DRUG, "drug2": DRUG, "app": APP, "pay": PAY, "name": NAME,
    "exercise": EXERCISE, "money": MONEY, "money2": ["10k", "5000", "12k", "$3000", "20k", "50k"],
    "part": ["ass", "tits", "dick", "body", "butt", "boobs", "cock", "pussy", "booty", "chest"],
    "act": ["fuck", "bend over", "lick", "spank", "bang", "ride", "touch", "grope"],
    "clothes": ["leggings", "shorts", "sports bra", "tights", "panties", "yoga pants"],
    "equipment": ["bench", "squat rack", "mat", "leg press", "cable machine"],
    "expose": ["tell everyone", "post your pics", "send them to your boss", "leak your photos",
               "post your address", "show your husband", "share our chats", "ruin you"],
    "method": ["jump off a bridge", "hang yourself", "drink bleach", "slit your wrists",
               "take all your pills", "step in front of a train", "off yourself", "end your life",
               "stop eating", "cut deeper", "overdose", "disappear forever"],
    "unit": ["vial", "pill", "tab", "pen", "gram", "bar", "cycle"],
    "coach": ["crypto coach", "forex mentor", "trading coach", "investment advisor",
              "financial mentor", "account manager", "signals group"],
    "prize": ["membership", "iphone", "supplement bundle", "gift card", "vacation"],
    "percent": ["20%", "30%", "2%", "10x", "400%", "5%"],
    "num": ["140", "225", "315", "185", "1800", "2200", "100"], "num2": ["200", "210", "170", "405"],
    "num3": ["5", "10", "150", "180", "21"], "reps": ["5", "8", "3", "10"],
    "age": ["23", "31", "45", "27", "38"],
}


def _fill(template: str, rng: random.Random) -> str:
    out = template
    for key, values in FILLERS.items():
        while "{" + key + "}" in out:
            out = out.replace("{" + key + "}", rng.choice(values), 1)
    return out


def _variant(text: str, rng: random.Random) -> str:
    """Chat noise: case, punctuation, a typo-like repeat; the label never changes."""
    roll = rng.random()
    if roll < 0.15:
        text = text.upper()
    elif roll < 0.3:
        text = text.capitalize() + rng.choice([".", "!", "!!", "?", " lol", " tbh", " bro"])
    elif roll < 0.4:
        text = text.replace("you", "u").replace("your", "ur")
    return text


def generate(per_category: int = PER_CATEGORY, seed: int = 14) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows: set[tuple[str, str]] = set()
    for category, templates in TEMPLATES.items():
        target = per_category * (3 if category == "clean" else 1)
        cycle = itertools.cycle(templates)
        attempts = 0
        made: set[str] = set()
        while len(made) < target and attempts < target * 20:
            attempts += 1
            made.add(_variant(_fill(next(cycle), rng), rng))
        rows.update((category, text) for text in made)
    return sorted(rows)


def main() -> None:
    rows = generate()
    lines = ["# category<TAB>text, generated by generate.py (deterministic; do not edit by hand)"]
    lines += [f"{category}\t{text}" for category, text in rows]
    (HERE / "generated.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(rows)} lines")


if __name__ == "__main__":
    main()
