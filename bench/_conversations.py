"""A generated multi-session conversation set whose questions have known evidence turns.

In the spirit of LongMemEval and LoCoMo: one user talks to an assistant over many
sessions spanning about three months; later they ask questions whose answers sit in
one or a few turns. `generate` builds the set from a seed (no network, no data
files); `evidence_recall_at_k` and `by_category` score rankings of turn keys.

What a set holds:

- **Facts** of a persona: recurring events (trips, home cooking, restaurants, runs,
  books, appointments, purchases, work meetings, gigs), each recurring with other
  details so that a keyword alone rarely pins the answer; one-off personal facts
  (a dog, family, allergies, birthdays); values that change over time (the user
  moves house twice, changes job, car, manager...); and recommendations the
  assistant made. Statements come from several templates each; about three in ten
  events are told over two user turns, the topic first and the details after the
  assistant asks ("How did it go?").
- **Distractors**: long assistant answers on the same topics (recipes for the dish
  about to be cooked, a guide to the city about to be visited, buying advice for the
  thing about to be bought), general advice and explanations, passing mentions of a
  topic, and small talk (some of it too short or too plain to be indexed).
- **Summaries**, one per session, phrased as an abstractive summariser would: the
  session's topics in words of their own, sometimes naming a place or a dish.

Question categories (`CATEGORIES`):

- ``single-hop``: shares its key words with the evidence ("Who did I go to Porto with?").
- ``paraphrase``: shares almost none ("What is my dog called?" for "We adopted a
  beagle puppy and named him Biscuit").
- ``temporal``: the topic recurs; only the date tells which instance is meant
  ("Which city did I travel to last Tuesday?", "...in early March?", "...on the
  14th?", "...five weeks ago?"), resolved against `Question.asked_at` (half a day
  to two and a half days after the last session) and the turn times; exactly one
  instance of the topic falls in the window the words name.
- ``knowledge-update``: the value changed; only the latest statement is evidence.
- ``multi-session``: the evidence is in two or three sessions (trips with the same
  person, a fact said twice); any of them counts.
- ``assistant``: the answer is in an assistant turn ("that book you recommended").
- ``context``: the answering turn lacks the question's topic, which only its
  neighbouring turn names ("Had my dentist appointment." / "How did it go?" /
  "One small filling needed...").

Questions are drawn in fixed shares per category (`_SHARES`), preferring events not
yet asked about; a category short of candidates (knowledge-update has eleven
changing facts, whatever the size) is made up by the others. Sessions are one to
four days apart (about 90 days for 40 sessions), 40 sessions yield up to about 290
distinct questions and 160 sessions about 770.

Everything is drawn from one `random.Random(seed)`, never from set order, so a seed
gives the same set on every machine and run.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar, cast

__all__ = [
    "CATEGORIES",
    "ConversationSet",
    "Question",
    "Summary",
    "Turn",
    "by_category",
    "describe",
    "evidence_recall_at_k",
    "generate",
]

CATEGORIES = (
    "single-hop",
    "paraphrase",
    "temporal",
    "knowledge-update",
    "multi-session",
    "assistant",
    "context",
)
"""The question categories, in reporting order."""

_SHARES = (0.20, 0.18, 0.18, 0.10, 0.10, 0.12, 0.12)  # of the questions, per category
_START = date(2024, 2, 5)
_T = TypeVar("_T")
_GAP_DAYS, _GAP_WEIGHTS = (1, 2, 3, 4), (25, 35, 25, 15)  # ~2.3 days: 40 sessions ~ 3 months


@dataclass(frozen=True)
class Turn:
    """One message: ``key`` is unique ("s03/t017"), ``session`` its thread ("s03")."""

    key: str
    session: str
    role: str
    text: str
    time: datetime


@dataclass(frozen=True)
class Summary:
    """A session's abstractive summary and the keys of the turns it covers."""

    key: str
    session: str
    text: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Question:
    """A question asked at ``asked_at``; any key in ``evidence`` answers it."""

    id: str
    text: str
    asked_at: datetime
    evidence: frozenset[str]
    category: str


@dataclass(frozen=True)
class ConversationSet:
    """The turns in time order, one summary per session, and the questions."""

    turns: list[Turn]
    summaries: list[Summary]
    questions: list[Question]


def evidence_recall_at_k(
    questions: Sequence[Question], ranked: Sequence[Sequence[str]], k: int = 10
) -> float:
    """Share of ``questions`` with an evidence key among the first ``k`` of their ranking.

    ``ranked[i]`` is the ranking (best first) returned for ``questions[i]``.
    """
    if len(questions) != len(ranked):
        raise ValueError(f"{len(questions)} questions but {len(ranked)} rankings")
    if not questions:
        raise ValueError("no questions to score")
    found = sum(1 for q, keys in zip(questions, ranked, strict=True) if q.evidence & set(keys[:k]))
    return found / len(questions)


def by_category(
    questions: Sequence[Question], ranked: Sequence[Sequence[str]], k: int = 10
) -> dict[str, float]:
    """`evidence_recall_at_k` per category present, in `CATEGORIES` order."""
    if len(questions) != len(ranked):
        raise ValueError(f"{len(questions)} questions but {len(ranked)} rankings")
    out: dict[str, float] = {}
    for category in CATEGORIES:
        picked = [i for i, q in enumerate(questions) if q.category == category]
        if picked:
            out[category] = evidence_recall_at_k(
                [questions[i] for i in picked], [ranked[i] for i in picked], k
            )
    return out


# -- the persona's world ---------------------------------------------------------------

_MALE = (
    "Tom", "Leo", "Omar", "Jonas", "Ravi", "Ben", "Marcus", "Dan", "Felix", "Kwame", "Arjun",
    "Theo", "Mateo", "Sean", "Pablo", "Hugo", "Ivan", "Kofi", "Luca", "Sami", "Noah", "Jamal",
    "Rory", "Oscar", "Finn",
)  # fmt: skip
_FEMALE = (
    "Anna", "Maya", "Priya", "Elena", "Chloe", "Sofia", "Ines", "Hana", "Zoe", "Lucy", "Nina",
    "Grace", "Yuki", "Amara", "Lena", "Rosa", "Tara", "Mia", "Ada", "Freya", "Iris", "Ella",
    "Nadia", "Leila", "Clara",
)  # fmt: skip
_FIRST = _MALE + _FEMALE
_LAST = (
    "Okafor", "Lindqvist", "Moreau", "Patel", "Brennan", "Novak", "Silva", "Haddad", "Kowalski",
    "Tanaka", "Reyes", "Fischer", "Doyle", "Ahmed", "Rossi", "Byrne", "Nakamura", "Costa",
    "Weber", "Quinn", "Adeyemi", "Larsen", "Horvat", "Mendes",
)  # fmt: skip
_ROLES = (
    "our designer",
    "the data lead",
    "my product manager",
    "the new engineer",
    "the finance partner",
    "the head of sales",
)


def _persona(rng: random.Random) -> dict[str, str]:
    """Names of the people in the user's life, as template fields."""
    men, women = rng.sample(_MALE, 2), rng.sample(_FEMALE, 2)
    others = rng.sample([n for n in _FIRST if n not in men + women], 13)
    fields = {"brother": men[0], "nephew": men[1], "sister": women[0], "best": women[1]}
    fields["partner"], fields["runner"], fields["friend"] = others[:3]
    for i, name in enumerate(others[3:9]):
        fields[f"col{i}"] = name
    for i, name in enumerate(others[9:13]):
        fields[f"boss{i}"] = name
    return fields


def _companions(p: dict[str, str]) -> list[tuple[str, str]]:
    """Who comes along: (how the user says it, how a summary says it)."""
    return [
        (p["partner"], "their partner"),
        (f"my brother {p['brother']}", "their brother"),
        (f"my sister {p['sister']}", "their sister"),
        (f"my best friend {p['best']}", "their best friend"),
        (f"{p['runner']} from my running club", "a running friend"),
        ("Mum and Dad", "their parents"),
    ]


# Values with a paraphrase: (as the user says it, as a question can say it without the words).
_CITIES = (
    "Porto", "Lisbon", "Seville", "Valencia", "Bologna", "Naples", "Ljubljana", "Krakow",
    "Tallinn", "Ghent", "Bruges", "Lyon", "Bordeaux", "Marseille", "Edinburgh", "Galway",
    "Copenhagen", "Gothenburg", "Bergen", "Vienna", "Salzburg", "Munich", "Hamburg", "Prague",
    "Budapest", "Split", "Dubrovnik", "Athens", "Thessaloniki", "Istanbul", "Marrakech",
    "Reykjavik", "Amsterdam", "Rotterdam", "Antwerp", "Zurich", "Lucerne", "Verona", "Granada",
    "Bilbao",
)  # fmt: skip
_PURPOSES = (
    ("a friend's wedding", "the nuptials I was invited to"),
    ("a work conference", "that industry event for my job"),
    ("a long weekend of hiking", "walking in the hills"),
    ("my cousin's fortieth birthday", "a relative's big party"),
    ("a food festival", "an eating and drinking fair"),
    ("a stag do", "a bachelor party"),
    ("a christening", "a baby's baptism"),
    ("a half marathon", "a 21k race"),
    ("a design workshop", "a training course for my job"),
    ("a jazz festival", "live music"),
    ("a city break", "a short holiday"),
    ("a visit to an old university friend", "catching up with a college mate"),
    ("a photography course", "learning to take better pictures"),
    ("a family reunion", "getting together with all my relatives"),
    ("a wine tasting tour", "sampling vineyards"),
    ("a surf camp", "riding waves"),
    ("a football match", "watching a soccer game"),
    ("a yoga retreat", "a week of stretching and meditation"),
    ("a hen party", "a bachelorette weekend"),
    ("a client pitch", "winning new business"),
    ("an art fair", "looking at paintings and sculpture"),
    ("my godson's graduation", "a young relative finishing his degree"),
    ("a cycling tour", "riding bikes through the countryside"),
    ("a cookery school", "lessons in the kitchen"),
)
_DISHES = (
    ("shakshuka", "eggs poached in spiced tomato sauce"),
    ("mushroom risotto", "creamy rice with fungi"),
    ("chicken tikka masala", "that orange curry with yoghurt-marinated poultry"),
    ("lasagne", "a layered pasta bake"),
    ("paella", "the Spanish saffron rice pan"),
    ("ramen", "Japanese noodle soup"),
    ("moussaka", "the Greek aubergine bake"),
    ("fish pie", "a seafood and mash bake"),
    ("pad thai", "stir-fried rice noodles"),
    ("coq au vin", "French chicken braised in red wine"),
    ("dal", "spiced lentils"),
    ("tacos al pastor", "Mexican pork with pineapple"),
    ("beef wellington", "a fillet wrapped in pastry"),
    ("bibimbap", "the Korean rice bowl"),
    ("gnocchi", "potato dumplings"),
    ("goulash", "the Hungarian paprika stew"),
    ("falafel wraps", "chickpea fritters in flatbread"),
    ("roast chicken", "a whole bird from the oven"),
    ("sourdough pizza", "flatbreads with toppings baked at home"),
    ("chilli con carne", "a spicy bean and mince stew"),
    ("katsu curry", "breaded cutlets with curry sauce"),
    ("minestrone", "Italian vegetable soup"),
    ("salmon teriyaki", "glazed fish"),
    ("cottage pie", "a mince and mash bake"),
    ("butternut squash soup", "a blended orange vegetable starter"),
    ("jerk chicken", "Caribbean spiced poultry"),
    ("spanakopita", "the Greek spinach and feta filo pie"),
    ("carbonara", "spaghetti with egg, cheese and guanciale"),
    ("massaman curry", "the mild Thai peanut stew"),
    ("fish tacos", "battered cod in tortillas"),
    ("chana masala", "spiced chickpeas"),
    ("beef stroganoff", "the creamy Russian mushroom dish"),
    ("jollof rice", "West African tomato rice"),
    ("ratatouille", "a Provençal vegetable stew"),
    ("pork dumplings", "homemade gyoza"),
    ("toad in the hole", "sausages baked in batter"),
)
_GUESTS = (
    ("{partner}'s parents", "my in-laws", "their in-laws"),
    ("my book club", "the reading group", "their book club"),
    ("the neighbours", "the people next door", "the neighbours"),
    ("Mum and Dad", "my parents", "their parents"),
    ("a few people from work", "my colleagues", "some colleagues"),
    ("{best} and a few old school friends", "my oldest mates", "some old friends"),
    ("{partner}'s work friends", "my other half's coworkers", "their partner's friends"),
)
_RESTAURANTS = (  # name, cuisine, its country, the dish to order
    ("Casa Lupo", "Italian", "Italy", "cacio e pepe"),
    ("Ostra", "Peruvian", "Peru", "sea bass ceviche"),
    ("Supra", "Georgian", "Georgia", "khachapuri"),
    ("Lalibela", "Ethiopian", "Ethiopia", "doro wat"),
    ("Pho Lan", "Vietnamese", "Vietnam", "bun cha"),
    ("Levant", "Lebanese", "Lebanon", "lamb kibbeh"),
    ("Koya", "Japanese", "Japan", "cold udon"),
    ("Tandoor Tales", "Indian", "India", "butter dal"),
    ("El Farolito", "Mexican", "Mexico", "birria tacos"),
    ("Chez Marguerite", "French", "France", "duck confit"),
    ("Bao Bao", "Taiwanese", "Taiwan", "pork belly bao"),
    ("Mezze House", "Turkish", "Turkey", "lahmacun"),
    ("Hanok", "Korean", "Korea", "kimchi fried rice"),
    ("Taverna Eleni", "Greek", "Greece", "lamb kleftiko"),
    ("Baan Suan", "Thai", "Thailand", "khao soi"),
    ("Dill", "Danish", "Denmark", "smoked fish smørrebrød"),
    ("Casa Brasa", "Brazilian", "Brazil", "picanha"),
    ("Saffron Lane", "Persian", "Iran", "jewelled rice"),
    ("The Salt Room", "Portuguese", "Portugal", "grilled sardines"),
    ("Mosaic", "Moroccan", "Morocco", "lamb tagine"),
    ("Rye", "Polish", "Poland", "pierogi"),
    ("Kin", "Malaysian", "Malaysia", "beef rendang"),
    ("Blue Fig", "Spanish", "Spain", "patatas bravas"),
    ("Havana Social", "Cuban", "Cuba", "ropa vieja"),
)
_RESTAURANT_NAMES = (  # for a second place of a cuisine
    "The Copper Pot", "Hearth", "Olive & Ash", "The Larder", "Anchor & Hope", "Juniper",
    "The Little Kitchen", "Ember", "Sable", "Fig & Thistle", "The Long Table", "Marlow's",
    "Harvest", "Tallow", "The Green Door", "Nettle", "Brass Rail", "Quince",
)  # fmt: skip
_ROUTES = (
    ("canal towpath", "waterway trail"),
    ("seafront", "beach promenade"),
    ("reservoir loop", "lake circuit"),
    ("old railway line", "disused train track"),
    ("park perimeter", "edge of the green space"),
    ("ridge path", "hilltop route"),
    ("forest trail", "woodland track"),
    ("harbour wall", "docks"),
    ("university campus", "college grounds"),
    ("cemetery hill", "graveyard climb"),
    ("botanical gardens", "greenhouse grounds"),
    ("golf course path", "fairways"),
    ("city walls", "medieval ramparts"),
    ("estuary path", "mudflats by the river mouth"),
    ("allotments loop", "vegetable plots"),
    ("airfield perimeter", "old runway"),
)
_TITLE_A = (
    "Silent", "Salt", "Paper", "Glass", "Last", "Hidden", "Winter", "Copper", "Quiet",
    "Burning", "Northern", "Lantern",
)  # fmt: skip
_TITLE_B = (
    "Harbour", "Orchard", "Cartographer", "Lighthouse", "Archive", "Garden", "Meridian",
    "Atlas", "Tide", "Clockmaker", "Ferryman", "Observatory", "Inheritance", "Season", "River",
)  # fmt: skip
_GENRES = (
    ("a murder mystery set on a remote island", "that whodunnit by the coast"),
    ("a memoir by a war surgeon", "the doctor's life story"),
    ("a sci-fi novel about a generation ship", "the space voyage story"),
    ("a history of the spice trade", "the non-fiction about seasoning merchants"),
    ("a thriller about a bank heist", "that crime caper about a robbery"),
    ("a family saga across three generations", "the multigenerational epic"),
    ("a fantasy novel about a city of thieves", "the magical story with the pickpockets"),
    ("a biography of a jazz pianist", "the musician's life story"),
    ("a novel about a failing vineyard", "the wine-making story"),
    ("a book on the science of sleep", "the non-fiction about resting"),
    ("a collection of short stories about Lagos", "the anthology set in Nigeria"),
    ("a romance between two rival chefs", "the love story in a kitchen"),
    ("a climbing memoir", "the mountaineering autobiography"),
    ("a novel told from a dog's point of view", "the story narrated by a pet"),
    ("a history of maps", "the cartography non-fiction"),
    ("a ghost story set in a Victorian asylum", "that spooky tale in an old hospital"),
    ("a spy thriller set in Cold War Berlin", "the espionage novel in divided Germany"),
    ("a coming-of-age novel about a swimmer", "the sporty teenage story"),
    ("a graphic novel about a robot gardener", "the illustrated machine tale"),
    ("a true-crime account of an art forgery", "the non-fiction about fake paintings"),
    ("a comic novel about a village fete", "that funny story about a country fair"),
    ("a book about the history of tea", "the non-fiction about a hot drink"),
    ("a novel in letters between two pen pals", "the epistolary story"),
    ("a dystopia about a city without sleep", "the bleak future story"),
)
_OPINIONS = (
    "Loved it, the ending completely floored me.",
    "Honestly a slog; I nearly gave up halfway.",
    "Beautifully written, but nothing really happens.",
    "Gripping, I read the last hundred pages in one sitting.",
    "Clever idea, shame about the ending.",
    "Easily the best thing I've read this year.",
    "Fine, but I won't remember it in a month.",
    "It made me cry on the bus, which was embarrassing.",
)
_APPOINTMENTS = (  # type, paraphrase, outcomes
    ("dentist", "teeth check-up", (
        "one small filling needed, booked in for next week",
        "all clear, but I have to floss more",
        "a cracked molar, so a crown is on the cards")),
    ("optician", "eye test", (
        "my prescription went up a little and new glasses are ordered",
        "everything is fine, it's just screen strain",
        "I need reading glasses now, which feels very grown-up")),
    ("physio", "sports injury session", (
        "the knee is improving, two more sessions to go",
        "no running for three weeks",
        "new exercises with a resistance band, twice a day")),
    ("GP", "family doctor visit", (
        "the blood tests came back normal",
        "she thinks it's a mild iron deficiency",
        "I'm being referred for an allergy test")),
    ("dermatologist", "skin specialist visit", (
        "the mole is nothing to worry about",
        "a new cream for the eczema",
        "the patch on my back should be checked yearly")),
    ("audiologist", "hearing check", (
        "slight loss in my left ear, nothing dramatic",
        "hearing is normal, it was just wax")),
    ("nutritionist", "diet consultation", (
        "more protein at breakfast and fewer snacks",
        "cut caffeine after noon and see if sleep improves")),
    ("podiatrist", "foot specialist visit", (
        "I need insoles for flat feet",
        "the heel pain is plantar fasciitis")),
    ("cardiologist", "heart specialist visit", (
        "the ECG was normal and no follow-up is needed",
        "my blood pressure is a bit high, keep an eye on it")),
    ("therapist", "counselling session", (
        "we worked on saying no at work",
        "homework is writing down three good things a day")),
    ("osteopath", "back specialist visit", (
        "my lower back is stiff from sitting, not injured",
        "two more sessions and daily stretches")),
    ("hygienist", "teeth cleaning", (
        "a bit of tartar, otherwise fine",
        "I'm brushing too hard and wearing the enamel")),
    ("ENT specialist", "ear, nose and throat visit", (
        "a deviated septum, and surgery is optional",
        "the sinus problem should clear up with a spray")),
)  # fmt: skip
_ITEMS = (  # item, with its article, paraphrase
    ("air fryer", "an air fryer", "countertop convection cooker"),
    ("road bike", "a road bike", "bicycle"),
    ("Kindle", "a Kindle", "e-reader"),
    ("standing desk", "a standing desk", "height-adjustable work table"),
    ("espresso machine", "an espresso machine", "coffee maker"),
    ("robot vacuum", "a robot vacuum", "automatic floor cleaner"),
    ("noise-cancelling headphones", "noise-cancelling headphones", "sound-blocking earphones"),
    ("winter coat", "a winter coat", "warm jacket"),
    ("hiking boots", "hiking boots", "walking shoes"),
    ("sofa", "a sofa", "couch"),
    ("tent", "a tent", "camping shelter"),
    ("sewing machine", "a sewing machine", "stitching device"),
    ("electric toothbrush", "an electric toothbrush", "tooth cleaner"),
    ("stand mixer", "a stand mixer", "baking appliance"),
    ("smartwatch", "a smartwatch", "fitness wristband"),
    ("record player", "a record player", "turntable"),
    ("dehumidifier", "a dehumidifier", "damp remover"),
    ("paddleboard", "a paddleboard", "SUP board"),
    ("rice cooker", "a rice cooker", "grain steamer"),
    ("monitor", "a monitor", "second screen"),
    ("slow cooker", "a slow cooker", "crockpot"),
    ("bread maker", "a bread maker", "loaf machine"),
    ("office chair", "an office chair", "seat for my desk"),
    ("projector", "a projector", "home cinema beamer"),
    ("pressure washer", "a pressure washer", "patio jet cleaner"),
    ("telescope", "a telescope", "stargazing scope"),
    ("mechanical keyboard", "a mechanical keyboard", "clicky typing board"),
    ("camping stove", "a camping stove", "portable burner"),
    ("ukulele", "a ukulele", "small four-string instrument"),
    ("yoga mat", "a yoga mat", "exercise rug"),
    ("bird feeder", "a bird feeder", "garden seed station"),
    ("cordless drill", "a cordless drill", "battery-powered driver"),
)
_STORES = ("Argos", "John Lewis", "eBay", "Amazon", "a second-hand shop", "a little shop in town")
_PROJECTS = (
    ("the checkout redesign", "revamping how customers pay"),
    ("the Q3 pricing review", "the autumn price changes"),
    ("the data migration", "moving our records to a new system"),
    ("the mobile app launch", "releasing the phone application"),
    ("the onboarding revamp", "how new hires get started"),
    ("the Berlin office move", "relocating the German team"),
    ("the customer survey", "the feedback questionnaire for clients"),
    ("the hiring plan", "recruitment for next year"),
    ("the security audit", "the review of our defences"),
    ("the partner integration", "the API work with the other company"),
    ("the accessibility fixes", "making the product usable for disabled people"),
    ("the annual budget", "next year's spending"),
    ("the support chatbot", "the automated help assistant"),
    ("the analytics dashboard", "the reporting screens"),
    ("the loyalty programme", "rewards for repeat customers"),
    ("the website rebrand", "our new logo and colours online"),
    ("the warehouse rollout", "getting the depot onto new software"),
    ("the GDPR review", "data protection compliance"),
    ("the summer offsite", "the team trip away from the office"),
    ("the cloud costs", "our server bill"),
    ("the quarterly roadmap", "what we build next quarter"),
    ("the search feature", "finding things in the product"),
    ("the vendor contract", "the supplier agreement"),
    ("the intern programme", "the students joining for the summer"),
)
_DECISIONS = (
    "push the launch back two weeks",
    "cut the scope to the essentials",
    "bring in a contractor for a month",
    "run a small pilot first",
    "drop the feature entirely",
    "split the work across two teams",
    "ask leadership for more budget",
    "ship it behind a feature flag",
    "do user interviews before building anything",
    "pause it until after the summer",
)
_BAND_A = (
    "Velvet", "Neon", "Hollow", "Midnight", "Silver", "Wild", "Lunar", "Static", "Golden",
    "Crimson",
)  # fmt: skip
_BAND_B = (
    "Foxes", "Harbours", "Engines", "Lanterns", "Sparrows", "Tides", "Pilots", "Orchards",
    "Ghosts", "Satellites",
)  # fmt: skip
_VENUES = (
    "the Roundhouse",
    "the Academy",
    "the Old Fire Station",
    "the Corn Exchange",
    "the Town Hall",
    "the Union Chapel",
    "the Leadmill",
)


# -- recurring events ------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """A recurring event: how it is told, asked about, summarised and distracted from.

    Templates are `str.format` strings over the event's fields and the persona's.
    ``split`` tells the event over two user turns: (topic, the assistant's question,
    the details, questions answerable only from the details with the topic's
    help); ``split_cue`` are the topic's fields, which must single the event out.
    ``ask`` are (category, fields that must single the event out, questions).
    """

    name: str
    share: float
    say: tuple[str, ...]
    reply: tuple[str, ...]
    split: tuple[tuple[str, str, str, tuple[str, ...]], ...]
    split_cue: tuple[str, ...]
    ask: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]
    when: tuple[str, ...]
    group: str | None
    group_ask: tuple[str, ...]
    group_split: bool  # a two-turn event's details turn answers the group question
    summary: tuple[str, ...]
    also_when: tuple[str, ...] = ()  # other kinds a time question about this one could mean
    prep_ask: tuple[str, ...] = ()
    prep_bank: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()


_KINDS = (
    _Kind(
        name="trip",
        share=0.12,
        say=(
            "Just got to {city}, here with {comp} for {purpose}. The hotel is tiny but right "
            "in the old town.",
            "Writing to you from {city}! Came out with {comp} for {purpose} and the weather is "
            "actually behaving.",
            "Made it to {city} for {purpose}; {comp} has already found a bakery two doors down "
            "from the flat.",
            "Quick hello from a café in {city}. I'm here with {comp} for {purpose}, running on "
            "about four hours of sleep.",
        ),
        reply=(
            "That sounds like a lovely few days. Leave some time with no plan at all; wandering "
            "without an agenda is often the best part of a trip. Want a few ideas for food or "
            "day trips while you're there?",
            "Enjoy it! A small tip: eat where the locals queue rather than right on the main "
            "square, and keep a little cash for the smaller places.",
            "How exciting. If the first day feels rushed, that's normal; most people find their "
            "rhythm by day two. Let me know if you want help planning anything.",
        ),
        split=(
            (
                "Heading off for {purpose} with {comp} tonight, bags finally packed.",
                "Exciting! Where are you off to?",
                "{city}. Never been before, so we're mostly winging it.",
                ("Where did I go with {comp} for {purpose}?",),
            ),
            (
                "{comp} and I are about to board for {purpose}.",
                "Safe travels! Where's the trip?",
                "{city}, and the flight is only two hours, which feels like cheating.",
                ("Which city was the trip for {purpose} with {comp}?",),
            ),
        ),
        split_cue=("comp", "purpose"),
        ask=(
            (
                "single-hop",
                ("city",),
                ("Who did I go to {city} with?", "Who came with me to {city}?"),
            ),
            ("single-hop", ("city",), ("What took me to {city}?",)),
            ("paraphrase", ("purpose",), ("Which city did I visit for {purpose_para}?",)),
        ),
        when=("Which city did I travel to {when}?", "Where was I on a trip {when}?"),
        group="comp",
        group_ask=(
            "Which places have I travelled to with {comp}?",
            "Where have {comp} and I gone on trips together?",
        ),
        group_split=True,
        summary=(
            "described a trip to {city} with {comp_sum}",
            "was away in {city} for {purpose}",
            "checked in while travelling with {comp_sum}",
        ),
        prep_ask=(
            "I'm off to {city} soon. What shouldn't I miss?",
            "Any tips for a few days in {city}?",
        ),
        prep_bank=(
            "{city} rewards slow exploring more than a packed itinerary.",
            "Start with a walk through the old centre early in the morning, before the tour "
            "groups arrive.",
            "Most visitors underestimate how hilly parts of {city} are, so bring comfortable "
            "shoes.",
            "For food, look for small places a street or two away from the main sights; prices "
            "drop and quality goes up.",
            "Public transport in {city} is easy to use, and a multi-day pass usually pays for "
            "itself.",
            "If you have a spare afternoon, a short trip out of town gives you a very different "
            "view of the region.",
            "Museums are often free or discounted on one evening a week, so check before you go.",
            "Book anything popular a few days ahead, especially at weekends.",
            "Sunset from one of the viewpoints over {city} is worth planning an evening around.",
            "Pack a light layer: evenings can turn cool even when the days are warm.",
        ),
        mentions=(
            "Still unpacking from the trip, the suitcase has been open on the bedroom floor for "
            "days.",
            "I miss being away already, the inbox was brutal this morning.",
        ),
    ),
    _Kind(
        name="meal",
        share=0.14,
        say=(
            "Making {dish} tonight for {guest}. Wish me luck, it's my first attempt.",
            "Tonight's plan: {dish} for {guest}. Everything is chopped already, I feel very "
            "organised.",
            "I'm cooking {dish} for {guest} this evening, fingers crossed it holds together.",
            "Dinner tonight is {dish}, with {guest} coming over around seven.",
        ),
        reply=(
            "Sounds like a great menu. When you host, get as much done as possible before people "
            "arrive so you're not stuck at the stove all evening. Want a quick prep timeline?",
            "Lovely! Taste as you go and adjust the seasoning right at the end; most dishes want "
            "a touch more salt or acid than you expect.",
            "Nice choice for a relaxed evening. A simple green salad and some good bread on the "
            "side takes the pressure off the main dish.",
        ),
        split=(
            (
                "Trying a new recipe tonight for {guest}.",
                "Ooh, what are you making?",
                "{dish}, with far too much garlic, probably.",
                ("What new recipe did I try for {guest}?",),
            ),
            (
                "I'm in charge of dinner for {guest} this evening, slightly nervous.",
                "You'll be fine! What's on the menu?",
                "{dish}. I practised it once last month and it went okay.",
                ("What was on the menu when I was in charge of dinner for {guest}?",),
            ),
        ),
        split_cue=("guest",),
        ask=(
            (
                "single-hop",
                ("guest",),
                ("What did I cook for {guest}?", "What was I making for {guest}?"),
            ),
            ("single-hop", ("dish",), ("Who was I cooking {dish} for?",)),
            ("paraphrase", ("dish",), ("Who did I prepare {dish_para} for?",)),
            ("paraphrase", ("guest",), ("What meal did I serve {guest_para}?",)),
        ),
        when=("What did I say I was cooking {when}?", "What was for dinner at my place {when}?"),
        group="guest",
        group_ask=(
            "What dishes have I made for {guest}?",
            "What have I cooked for {guest} so far?",
        ),
        group_split=True,
        summary=(
            "mentioned cooking {dish} for {guest_sum}",
            "talked about hosting {guest_sum} for dinner",
            "shared their dinner plans",
        ),
        prep_ask=(
            "How do I keep {dish} from going wrong? First time making it.",
            "What's the trick to a really good {dish}?",
        ),
        prep_bank=(
            "The secret to a good {dish} is mostly patience and decent ingredients.",
            "Read the whole recipe before you start and get everything measured out; it makes "
            "the cooking itself calm.",
            "Season in layers rather than all at the end, tasting as you go.",
            "Don't crowd the pan when you brown anything, or it steams instead of colouring.",
            "Most of the flavour comes from the first ten minutes, so take your time with the "
            "base.",
            "If it's your first {dish}, make a half batch a day early as a test run.",
            "Let it rest for a few minutes before serving; the flavours settle and it's easier "
            "to portion.",
            "Leftovers of {dish} often taste even better the next day.",
            "A squeeze of lemon or a splash of vinegar at the end lifts almost everything.",
        ),
        mentions=(
            "The kitchen is still a disaster from last night's cooking.",
            "I've been living on toast all week, too tired to cook anything proper.",
        ),
    ),
    _Kind(
        name="restaurant",
        share=0.12,
        say=(
            "Had dinner at {rest} with {comp} tonight. The {rdish} was unreal.",
            "Finally tried {rest}, the {cuisine} place near the station, with {comp}. Order the "
            "{rdish} if you ever go.",
            "{comp} took me to {rest} for lunch today, a tiny {cuisine} spot with amazing {rdish}.",
            "Lunch at {rest} with {comp}: the {rdish} alone is worth the trip across town.",
        ),
        reply=(
            "That sounds like a great find. Small places like that are worth supporting; they "
            "often change the menu with the seasons, so it's worth going back.",
            "Nothing beats a meal that lives up to the hype. Did you save room for dessert?",
            "Good company and good food, the best combination. I'm glad it was worth it.",
        ),
        split=(
            (
                "{comp} and I finally tried that {cuisine} place everyone keeps talking about.",
                "How was it? What did you order?",
                "The {rdish}, which was perfect. It's called {rest}, by the way, worth "
                "remembering.",
                (
                    "What was the {cuisine} place {comp} and I tried?",
                    "Which {cuisine} restaurant did I go to with {comp}?",
                ),
            ),
        ),
        split_cue=("comp", "cuisine"),
        ask=(
            (
                "single-hop",
                ("rest",),
                ("What did I love at {rest}?", "What should I order at {rest}?"),
            ),
            (
                "paraphrase",
                ("cuisine",),
                (
                    "Where did I eat food from {country}?",
                    "Which place did I try for a taste of {country}?",
                ),
            ),
        ),
        when=("Where did I eat out {when}?", "Which restaurant did I go to {when}?"),
        group="comp",
        group_ask=("Which restaurants have I been to with {comp}?",),
        group_split=True,
        summary=(
            "reviewed a meal at {rest}",
            "talked about eating {cuisine} food with {comp_sum}",
            "recommended a {cuisine} restaurant",
        ),
        prep_ask=(
            "Is {rdish} hard to make at home?",
            "I keep thinking about {rdish}. Could I make it myself?",
        ),
        prep_bank=(
            "{rdish} is very doable at home, though it takes a little practice to match a "
            "restaurant's version.",
            "The main thing restaurants have over home cooks is heat, so get your pan properly "
            "hot.",
            "Buy the best version of the key ingredient you can find; it carries the dish.",
            "Prepare everything before you start, because the cooking itself moves quickly.",
            "Your first attempt will probably be good rather than great, and that's fine.",
            "Many specialist ingredients are easy to find online or in larger supermarkets now.",
            "Keep notes on what you change each time; it's the fastest way to get it how you like "
            "it.",
            "Serve it straight away; it rarely waits well.",
        ),
        mentions=("Eating out has got so expensive, we need to rein it in a bit.",),
    ),
    _Kind(
        name="run",
        share=0.10,
        say=(
            "Ran {km} km along the {route} this morning in {mins} minutes. Legs are jelly.",
            "Got out for {km} km on the {route} before work, {mins} minutes, a personal best for "
            "that stretch.",
            "Slow {km} km around the {route} today, {mins} minutes, but it felt good to move.",
            "Did {km} km on the {route} at lunchtime in {mins} minutes; the wind was brutal.",
        ),
        reply=(
            "Nice work getting out there. Remember an easy day after a hard effort is what "
            "actually makes you faster.",
            "Great effort! Stretch your calves and hips tonight and get some protein in; your "
            "legs will thank you tomorrow.",
            "Consistency beats heroics, and you're clearly being consistent. How are the knees "
            "holding up?",
        ),
        split=(
            (
                "Did the {route} again this morning.",
                "How far did you go?",
                "{km} km in {mins} minutes, slow but steady.",
                ("How far did I go on the {route}?", "How long was my run on the {route}?"),
            ),
        ),
        split_cue=("route",),
        ask=(
            (
                "single-hop",
                ("route",),
                ("How far did I run along the {route}?", "What was my time for the {route} run?"),
            ),
            ("paraphrase", ("route",), ("What distance did I jog by the {route_para}?",)),
        ),
        when=("How far did I run {when}?", "How long was my run {when}?"),
        group=None,
        group_ask=(),
        group_split=False,
        summary=(
            "logged a {km} km run",
            "talked about their running",
            "shared a run on the {route}",
        ),
        prep_ask=(
            "How should I pace a {km} km run?",
            "Any tips for running {km} km without dying at the end?",
        ),
        prep_bank=(
            "For {km} km, the classic mistake is starting too fast.",
            "Aim to run the first third slightly slower than you think you should.",
            "If you can hold a short conversation, your pace is about right for most training "
            "runs.",
            "Negative splits, running the second half a little faster, usually feel better and "
            "give better times.",
            "Fuel isn't critical for shorter efforts, but have a decent breakfast a couple of "
            "hours before.",
            "Use landmarks along your route to break the distance into chunks.",
            "Hills cost more energy than they seem to, so ease off going up.",
            "A short warm-up of easy jogging and a few strides makes the first kilometre much "
            "less painful.",
        ),
        mentions=(
            "My knee is grumbling a bit after this week's runs.",
            "Skipped my run today, it was pouring and I had zero motivation.",
        ),
    ),
    _Kind(
        name="book",
        share=0.10,
        say=(
            "Just finished {title} by {author}, {genre}. {opinion}",
            "Finally finished {title}, {genre} by {author}, on the train home. {opinion}",
            "Finished this month's book club pick today: {title} by {author}, {genre}. {opinion}",
        ),
        reply=(
            "It's interesting how much a book's ending shapes what we remember of it. Are you "
            "keeping a reading log this year?",
            "Thanks for sharing that. If you like, I can suggest a few books in a similar vein, "
            "or something completely different as a palate cleanser.",
            "That's a good reading pace. Do you tend to read before bed or more on the commute?",
        ),
        split=(
            (
                "I finally finished {title}.",
                "What did you think of it?",
                "{opinion} Not sure I'd recommend it to everyone though.",
                ("What did I think of {title}?", "What was my verdict on {title}?"),
            ),
        ),
        split_cue=("title",),
        ask=(
            ("single-hop", ("title",), ("What did I think of {title}?", "Who wrote {title}?")),
            ("paraphrase", ("genre",), ("What was the name of {genre_para} I read?",)),
        ),
        when=("Which book did I finish {when}?", "What was I reading {when}?"),
        group=None,
        group_ask=(),
        group_split=False,
        summary=(
            "talked about finishing {title}",
            "shared thoughts on {genre}",
            "discussed a recent read",
        ),
        mentions=(
            "I'm hopelessly behind on my reading challenge this year.",
            "My to-read pile is now taller than the bedside table.",
        ),
    ),
    _Kind(
        name="appointment",
        share=0.08,
        say=(
            "Back from the {atype}: {outcome}.",
            "{atype} appointment this morning. Verdict: {outcome}.",
            "Saw the {atype} today, and the news is {outcome}.",
        ),
        reply=(
            "Thanks for keeping me posted. It's good that you went rather than putting it off; "
            "that's the hardest step for most people.",
            "Glad you got it checked. If anything changes before your next appointment, it's "
            "worth calling them rather than waiting.",
            "That's useful to know. Would it help to set a reminder for any follow-up?",
        ),
        split=(
            (
                "Had my {atype} appointment this morning.",
                "How did it go?",
                "{outcome}. Could have been worse.",
                (
                    "What was the outcome of my {atype} appointment?",
                    "What happened at the {atype}?",
                ),
            ),
        ),
        split_cue=("atype",),
        ask=(
            (
                "single-hop",
                ("atype",),
                ("What did the {atype} say?", "What did I find out at the {atype}?"),
            ),
            ("paraphrase", ("atype",), ("How did my {atype_para} go?",)),
        ),
        when=("What kind of appointment did I have {when}?", "Which specialist did I see {when}?"),
        group=None,
        group_ask=(),
        group_split=False,
        summary=(
            "mentioned a visit to the {atype}",
            "gave a health update",
            "talked about a {atype} appointment",
        ),
        prep_ask=(
            "How often should I see a {atype}?",
            "Is it normal to be nervous before a {atype} appointment?",
        ),
        prep_bank=(
            "How often you need a {atype} depends a lot on your history, so ask them directly "
            "what they recommend for you.",
            "Write down your questions beforehand; it's easy to forget them once you're in the "
            "room.",
            "Bring a list of any medication you take, including supplements.",
            "Feeling nervous is very common and worth mentioning; good practitioners will slow "
            "down and explain more.",
            "Booking the first appointment of the day usually means less waiting.",
            "If cost is a worry, ask about the price of any treatment before agreeing to it.",
            "Follow-up instructions are easy to forget, so ask for them in writing.",
        ),
        mentions=(
            "Need to book a health check at some point, I keep putting it off.",
            "Slept terribly again, I really need to sort my sleep out.",
        ),
    ),
    _Kind(
        name="purchase",
        share=0.12,
        say=(
            "Finally bought {item_a} from {store}, £{price}. {comment}",
            "Treated myself to {item_a} today, £{price} from {store}, no regrets so far.",
            "Caved and ordered {item_a} ({store}, £{price}). {comment}",
        ),
        reply=(
            "Nice! Keep the receipt and the box for a couple of weeks, just in case, and check "
            "whether registering it extends the warranty.",
            "Sounds like a good buy. The first few days with a new thing are the best part.",
            "Treating yourself now and then is healthy. Hope it gets lots of use.",
        ),
        split=(
            (
                "I finally replaced my ancient {item}.",
                "Nice! What did you go for, and was it pricey?",
                "A mid-range one from {store}, £{price}, which felt fair.",
                (
                    "How much did I spend replacing my {item}?",
                    "Where did I get my replacement {item}?",
                ),
            ),
        ),
        split_cue=("item",),
        ask=(
            (
                "single-hop",
                ("item",),
                ("How much did I pay for the {item}?", "Where did I buy the {item}?"),
            ),
            ("paraphrase", ("item",), ("What did my new {item_para} cost?",)),
        ),
        when=("What did I buy {when}?", "What did I treat myself to {when}?"),
        group="store",
        group_ask=("What have I bought from {store}?",),
        group_split=False,
        summary=(
            "mentioned buying {item_a}",
            "talked about a new purchase",
            "weighed up spending on {item_a}",
        ),
        also_when=("chain:car", "chain:phone"),
        prep_ask=("Is {item_a} worth the money?", "Thinking about getting {item_a}. Any advice?"),
        prep_bank=(
            "Whether {item_a} is worth it depends mostly on how often you'll really use it.",
            "Read a few long-term reviews, not just the first impressions written in week one.",
            "Mid-range models are usually the sweet spot; the top tier adds features few people "
            "use.",
            "Check the returns policy before you buy, so you can change your mind.",
            "Second-hand can be great value for things with few moving parts.",
            "Think about where it will live; plenty of purchases end up in a cupboard because "
            "they're awkward to get out.",
            "Waiting for a sale can save a lot, but don't let a discount talk you into a model "
            "you don't want.",
        ),
        mentions=(
            "Trying to do a no-spend month, which is going about as well as you'd expect.",
            "The flat is filling up with cardboard boxes I keep meaning to recycle.",
        ),
    ),
    _Kind(
        name="meeting",
        share=0.12,
        say=(
            "Long one-to-one with {col} ({role}) about {project}. We agreed to {decision}.",
            "{col}, {role}, grabbed me after standup to talk about {project}; the upshot is "
            "we'll {decision}.",
            "Meeting with {col} on {project} went better than expected: we're going to {decision}.",
        ),
        reply=(
            "That sounds like a sensible call. Writing a two-line summary of the decision and "
            "sharing it today will save a lot of confusion later.",
            "Good that you came out with a clear next step. Who owns the follow-up?",
            "Decisions like that are often harder to make than to carry out. Nice that it's "
            "settled.",
        ),
        split=(
            (
                "Just got out of a meeting with {col} about {project}.",
                "How did it go? Anything decided?",
                "We're going to {decision}, which honestly is a relief.",
                (
                    "What was decided in my meeting with {col} about {project}?",
                    "What did {col} and I settle on for {project}?",
                ),
            ),
        ),
        split_cue=("col", "project"),
        ask=(
            (
                "single-hop",
                ("project",),
                ("What did we decide about {project}?", "Who did I talk to about {project}?"),
            ),
            (
                "paraphrase",
                ("project",),
                ("What was the outcome of the discussion about {project_para}?",),
            ),
        ),
        when=(
            "Who did I have a work meeting with {when}?",
            "Which project came up at work {when}?",
        ),
        group="col",
        group_ask=(
            "What projects have I discussed with {col}?",
            "What have {col} and I been working through?",
        ),
        group_split=False,
        summary=(
            "discussed {project} with a colleague",
            "talked through a decision at work",
            "mentioned a meeting with {col}",
        ),
        also_when=("static:review", "chain:manager"),
        prep_ask=(
            "Can you help me prepare for a meeting about {project}?",
            "How do I get a clear decision out of a meeting about {project}?",
        ),
        prep_bank=(
            "For a meeting about {project}, start by writing down the one decision you need by "
            "the end of it.",
            "Share a short agenda beforehand so nobody is surprised.",
            "Bring two or three options with their trade-offs rather than a single proposal.",
            "Leave the last five minutes to agree who does what by when.",
            "If people disagree, ask what would change their mind; it moves the conversation "
            "forward.",
            "Send notes the same day while everyone still remembers the details.",
            "Keep the group small; every extra person makes a decision slower.",
        ),
        mentions=(
            "Work has been chaos this week, far too many meetings.",
            "I spent the whole afternoon in spreadsheets and my eyes hurt.",
        ),
    ),
    _Kind(
        name="outing",
        share=0.10,
        say=(
            "Off to see {band} at {venue} tonight with {comp}!",
            "At {venue} with {comp} waiting for {band} to come on, the place is packed.",
            "{comp} got us tickets for {band} at {venue} tonight, I had no idea they were touring.",
        ),
        reply=(
            "Earplugs are worth it at gigs, honestly; you still hear everything, just without "
            "the ringing afterwards.",
            "Live music is the best. Did they play anything new?",
            "That's a fun way to spend an evening. Hope the sound was good.",
        ),
        split=(
            (
                "Heading to {venue} tonight with {comp}!",
                "Fun! What are you seeing?",
                "{band}. I've wanted to see them live for years.",
                (
                    "Who did I see at {venue} with {comp}?",
                    "Which band was I seeing with {comp} at {venue}?",
                ),
            ),
        ),
        split_cue=("venue", "comp"),
        ask=(
            (
                "single-hop",
                ("band",),
                ("Where did I see {band}?", "Who came with me to see {band}?"),
            ),
        ),
        when=("Which band did I see {when}?", "What gig did I go to {when}?"),
        group="comp",
        group_ask=("Which gigs have I been to with {comp}?",),
        group_split=True,
        summary=(
            "went to a concert with {comp_sum}",
            "talked about seeing {band} live",
            "mentioned a night out at {venue}",
        ),
        mentions=("Still humming that song from the gig, it's stuck in my head.",),
    ),
)
_KIND = {kind.name: kind for kind in _KINDS}

_COMMENTS = (
    "{partner} thinks it's an extravagance.",
    "It's already been worth it.",
    "The box is enormous.",
    "Returns are free, so low risk.",
)


class _Decks:
    """Draws from pools without repeats until a pool runs out, then reshuffles it."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._left: dict[str, list[object]] = {}
        self.rounds: Counter[str] = Counter()
        """How many times each pool has been shuffled."""

    def draw(self, name: str, pool: Sequence[_T]) -> _T:
        """The next value of the pool called ``name``."""
        left = self._left.get(name)
        if not left:
            left = list(pool)
            self._rng.shuffle(left)
            self._left[name] = left
            self.rounds[name] += 1
        return cast(_T, left.pop())


def _fields(kind: str, rng: random.Random, decks: _Decks, p: dict[str, str]) -> dict[str, str]:
    """The details of one event of ``kind``."""
    comp, comp_sum = rng.choice(_companions(p))
    f: dict[str, str] = {"comp": comp, "comp_sum": comp_sum}
    if kind == "trip":
        f["city"] = decks.draw("city", _CITIES)
        f["purpose"], f["purpose_para"] = decks.draw("purpose", _PURPOSES)
    elif kind == "meal":
        f["dish"], f["dish_para"] = decks.draw("dish", _DISHES)
        f["guest"], f["guest_para"], f["guest_sum"] = rng.choice(_GUESTS)
    elif kind == "restaurant":
        f["rest"], f["cuisine"], f["country"], f["rdish"] = decks.draw("rest", _RESTAURANTS)
        if decks.rounds["rest"] > 1:
            f["rest"] = decks.draw("rest-name", _RESTAURANT_NAMES)
    elif kind == "run":
        km = rng.choice((5, 6, 7, 8, 10, 12, 15, 18, 21))
        f["km"], f["mins"] = str(km), str(round(km * rng.uniform(4.8, 6.6)))
        f["route"], f["route_para"] = decks.draw("route", _ROUTES)
    elif kind == "book":
        f["title"] = decks.draw(
            "title", [f"The {a} {b}" for a in _TITLE_A for b in _TITLE_B if a[0] != b[0]]
        )
        f["author"] = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        f["genre"], f["genre_para"] = decks.draw("genre", _GENRES)
        f["opinion"] = rng.choice(_OPINIONS)
    elif kind == "appointment":
        f["atype"], f["atype_para"], outcomes = decks.draw("atype", _APPOINTMENTS)
        f["outcome"] = rng.choice(outcomes)
    elif kind == "purchase":
        f["item"], f["item_a"], f["item_para"] = decks.draw("item", _ITEMS)
        f["store"] = rng.choice(_STORES)
        f["price"] = str(rng.choice((35, 49, 60, 85, 120, 149, 199, 240, 320, 450, 600)))
        f["comment"] = rng.choice(_COMMENTS).format(**p)
    elif kind == "meeting":
        i = rng.randrange(len(_ROLES))
        f["col"], f["role"] = p[f"col{i}"], _ROLES[i]
        f["project"], f["project_para"] = decks.draw("project", _PROJECTS)
        f["decision"] = rng.choice(_DECISIONS)
    elif kind == "outing":
        f["band"] = decks.draw("band", [f"The {a} {b}" for a in _BAND_A for b in _BAND_B])
        f["venue"] = rng.choice(_VENUES)
    return {name: value.format(**p) for name, value in f.items()}


# -- one-off facts, changing facts, recommendations ------------------------------------


@dataclass(frozen=True)
class _Static:
    """A one-off fact: said once, or once and again later, or over two user turns."""

    name: str
    fields: dict[str, str]
    say: tuple[str, ...]
    ask: tuple[tuple[str, tuple[str, ...]], ...]
    summary: str
    restate: tuple[str, ...] = ()
    split: tuple[str, str, str, tuple[str, ...]] | None = None


def _statics(rng: random.Random, p: dict[str, str]) -> list[_Static]:
    """The persona's one-off facts, their details drawn from ``rng``."""
    c = rng.choice
    month = _MONTHS
    hobby, hobby_para = c(
        (
            ("pottery", "working with clay"),
            ("life drawing", "sketching people"),
            ("salsa", "Latin dancing"),
            ("woodwork", "making furniture"),
            ("improv", "comedy acting"),
            ("bouldering", "indoor climbing"),
        )
    )
    return [
        _Static(
            "dog",
            {"breed": c(("beagle", "spaniel", "whippet", "border collie", "dachshund", "labrador")),
             "pet": c(("Biscuit", "Pickle", "Mochi", "Bramble", "Otis", "Pepper", "Waffle"))},
            ("We finally adopted a {breed} puppy and named him {pet}! He's asleep on my feet right "
             "now.", "Meet {pet}: an eight-week-old {breed}, the newest member of the household."),
            (("paraphrase", ("What is my dog called?", "What's the name of our pet?")),
             ("single-hop", ("What breed is {pet}?",))),
            "shared the news of adopting a {breed}",
            ("{pet} the {breed} has learned to sit on command, I'm ridiculously proud.",),
            ("Big news: we brought home a puppy today!",
             "Congratulations! What breed, and what's his name?",
             "A {breed}. We went with {pet}, after a lot of debate with {partner}.",
             ("What did we name the puppy we brought home?",)),
        ),
        _Static(
            "partner-job",
            {"pjob": c(("paediatric nurse", "architect", "secondary school teacher",
                        "sound engineer", "solicitor", "pharmacist", "civil engineer"))},
            ("{partner} just got promoted to senior {pjob}, we're celebrating tonight.",
             "{partner} has been working as a {pjob} for six years and still loves it."),
            (("paraphrase", ("What does my partner do for a living?",
                             "What is my other half's profession?")),
             ("single-hop", ("What is {partner}'s job?",))),
            "mentioned their partner's work",
            ("{partner} had a rough week; being a {pjob} is harder than people think.",),
        ),
        _Static(
            "sister-job",
            {"sjob": c(("midwife", "structural engineer", "barrister", "physiotherapist",
                        "accountant", "airline pilot"))},
            ("My sister {sister} just qualified as a {sjob}! Four years of studying finally "
             "done.",),
            (("single-hop", ("What did {sister} qualify as?",)),
             ("paraphrase", ("What's my sibling's new profession?",))),
            "celebrated their sister's new qualification",
            (),
            ("{sister} rang with big news this morning.", "Oh? Good news, I hope?",
             "She passed her final exams and is officially a {sjob}. Four years of work!",
             ("What was {sister}'s big news?",)),
        ),
        _Static(
            "allergy",
            {"allergen": c(("shellfish", "peanuts", "sesame", "kiwi", "mustard"))},
            ("Note to self for restaurants: I'm allergic to {allergen}. Found that out the hard "
             "way at a wedding.",
             "I can't have {allergen}, I'm allergic, so menus are always a bit of a minefield."),
            (("paraphrase", ("Is there any food I need to avoid?",
                             "What food am I intolerant to?")),
             ("single-hop", ("What am I allergic to?",))),
            "mentioned a food allergy",
            ("Ordering a takeaway and, as usual, checking everything for {allergen} because of "
             "my allergy.",),
        ),
        _Static(
            "mum-birthday",
            {"bday": f"{c(month)} {c(('3rd', '9th', '12th', '17th', '21st', '28th'))}"},
            ("Mum's birthday is on {bday}, and I need a present idea before then.",
             "Reminder to self: Mum's birthday is {bday}. I forgot last year and I'm still "
             "hearing about it."),
            (("single-hop", ("When is Mum's birthday?",)),
             ("paraphrase", ("What date was my mother born?",))),
            "noted a family birthday coming up",
        ),
        _Static(
            "hometown",
            {"hometown": c(("Cork", "Dundee", "Inverness", "Swansea", "Aberdeen", "Limerick"))},
            ("I grew up in {hometown}, so this kind of weather feels like home.",
             "That reminds me of {hometown}, where I grew up; we used to walk for miles."),
            (("paraphrase", ("Where was I raised?", "Where did I spend my childhood?")),
             ("single-hop", ("Where did I grow up?",))),
            "reminisced about their childhood",
        ),
        _Static(
            "degree",
            {"subject": c(("marine biology", "philosophy", "civil engineering", "art history",
                           "economics", "chemistry"))},
            ("I studied {subject} at university, which is funny given where I ended up.",),
            (("paraphrase", ("What was my major in college?",)),
             ("single-hop", ("What did I study at university?",))),
            "talked about their student days",
            ("My {subject} degree finally came in handy today, believe it or not.",),
        ),
        _Static(
            "language",
            {"lang": c(("Portuguese", "Japanese", "Italian", "Greek", "Korean", "Dutch")),
             "streak": str(rng.randint(40, 300))},
            ("I'm learning {lang} on an app, day {streak} of my streak and counting.",),
            (("single-hop", ("Which language am I learning?",)),
             ("paraphrase", ("What foreign tongue am I studying?",))),
            "mentioned a language-learning streak",
        ),
        _Static(
            "phobia",
            {"phobia": c(("spiders", "heights", "deep water", "birds", "wasps"))},
            ("I'm genuinely terrified of {phobia}, always have been.",
             "I've been scared of {phobia} since I was a kid, and it's not getting better."),
            (("paraphrase", ("What am I afraid of?", "What gives me the creeps?")),),
            "admitted to a phobia",
        ),
        _Static(
            "wedding",
            {"wdate": f"{c(month)} {c(('6th', '14th', '20th', '27th'))}"},
            ("{best} is getting married on {wdate} and I'm giving one of the speeches. Panic.",),
            (("single-hop", ("When is {best}'s wedding?",)),
             ("paraphrase", ("On what date does my closest mate tie the knot?",))),
            "shared news about a friend's upcoming wedding",
            (),
            ("{best} just called with big news!", "Oh? Good news, I hope!",
             "Engaged! The date is {wdate}, and I've been asked to give a speech.",
             ("What news did {best} call me with?",)),
        ),
        _Static(
            "class",
            {"hobby": hobby, "hobby_para": hobby_para,
             "day": c(("Monday", "Tuesday", "Wednesday", "Thursday"))},
            ("Signed up for {hobby} classes on {day} evenings at the community centre.",),
            (("single-hop", ("When are my {hobby} classes?",)),
             ("paraphrase", ("Which evening do I do {hobby_para}?",))),
            "mentioned a new evening class",
            ("{hobby} class tonight, as every {day}; I'm slowly getting less terrible.",),
        ),
        _Static(
            "nephew",
            {},
            ("{sister}'s little boy {nephew} turned three today, chaos and cake everywhere.",),
            (("paraphrase", ("What's my nephew called?", "What is my sister's son's name?")),
             ("single-hop", ("How old is {nephew}?",))),
            "talked about a family birthday party",
        ),
        _Static(
            "review",
            {"raise": str(rng.randint(4, 9)), "month": c(("April", "May", "June", "July"))},
            ("Performance review today: I'm getting a raise of {raise}% and the senior title from "
             "{month}.",),
            (("single-hop", ("What came out of my performance review?",)),
             ("paraphrase", ("How much more am I going to be paid?",))),
            "discussed the outcome of a performance review",
            (),
            ("Had my performance review with my manager this afternoon.", "How did it go?",
             "Really well, actually. {raise}% more and the senior title from {month}.",
             ("What came out of my performance review?", "How did my performance review go?")),
        ),
        _Static(
            "anniversary",
            {"years": str(rng.randint(3, 12))},
            ("{partner} and I have been together {years} years as of today!",),
            (("single-hop", ("How long have {partner} and I been together?",)),
             ("paraphrase", ("How long is my relationship with my partner?",))),
            "marked an anniversary",
        ),
    ]  # fmt: skip


@dataclass(frozen=True)
class _Chain:
    """A fact that changes: the first value, then each change; only the last one holds."""

    name: str
    pool: tuple[str, ...]
    first: tuple[str, ...]
    change: tuple[str, ...]
    ask: tuple[str, ...]
    summary: tuple[str, str]
    ordered: bool = False  # values follow the pool's order (a bigger race each time)


_CHAINS = (
    _Chain(
        "home",
        ("Bristol", "Bath", "Cardiff", "York", "Harrogate", "Brighton", "Lewes", "Oxford",
         "Reading", "Exeter"),
        ("Rain again here in {v}, the usual.",
         "Love living in {v}, but the rents are getting silly."),
        ("Big news: we're moving to {v}! Got the keys today.",
         "Moving day done. We're officially living in {v} now.",
         "We've moved! Home is now a little terraced house in {v}."),
        ("Where do I live now?", "Which town is home for me these days?",
         "Where am I based at the moment?"),
        ("mentioned life in {v}", "talked about moving house to {v}"),
    ),
    _Chain(
        "employer",
        ("Northwind Logistics", "Bluefin Analytics", "Hartley & Moss", "Orbital Games",
         "Greenleaf Energy", "Cobalt Health", "Fable Books"),
        ("Long day at {v}; the quarter-end crunch is real.",
         "I've been at {v} for three years now, mostly on the customer side."),
        ("I accepted the offer from {v}! Handing in my notice tomorrow.",
         "First week at {v} done: new badge, new laptop, new everything.",
         "New job news: I work at {v} now, started on Monday."),
        ("Where do I work now?", "Who is my current employer?",
         "Which company am I with these days?"),
        ("talked about their job at {v}", "shared news of a new job at {v}"),
    ),
    _Chain(
        "car",
        ("Honda Jazz", "Skoda Octavia", "Toyota Yaris", "VW Golf", "Nissan Leaf", "Mazda MX-5",
         "Kia Niro"),
        ("My old {v} failed its MOT on something small, again.",
         "Drove the {v} up to see Mum and Dad, four hours each way."),
        ("Said goodbye to the {old} today; there's a {v} on the drive now.",
         "We traded in the {old} for a {v}, it feels like a spaceship.",
         "The new car is here: a {v}, replacing the old {old}."),
        ("What car do I drive now?", "What's my current car?", "What am I driving these days?"),
        ("mentioned their {v}", "talked about changing their car"),
    ),
    _Chain(
        "manager",
        ("{boss0}", "{boss1}", "{boss2}", "{boss3}"),
        ("My manager {v} wants the roadmap by Friday, no pressure.",
         "{v}, my boss, is surprisingly good about flexible hours."),
        ("{old} has left the company, so I report to {v} now.",
         "New manager as of today: {v}. First impressions are good."),
        ("Who is my manager now?", "Who do I report to these days?",
         "Who's my boss at the moment?"),
        ("talked about their manager", "mentioned a change of manager"),
    ),
    _Chain(
        "gym",
        ("PureGym", "the leisure centre", "Third Space", "a CrossFit box", "the climbing gym",
         "a tiny boxing gym"),
        ("My gym is {v}; it's cheap and close, that's about all I can say for it.",
         "Went to {v} after work, it was packed."),
        ("Cancelled my old membership and joined {v} instead, mainly for the pool.",
         "I've switched to {v}; the classes there are much better.",
         "New gym: I joined {v}, the old place was always packed."),
        ("Which gym do I go to now?", "Where do I work out these days?"),
        ("talked about their gym", "mentioned switching gyms"),
    ),
    _Chain(
        "diet",
        ("vegetarian", "pescatarian", "vegan", "flexitarian"),
        ("I've been {v} for about five years now, so barbecues are mostly halloumi.",),
        ("Diet update: I'm {v} now, my doctor suggested a change.",
         "I've decided to go {v}, at least for this year."),
        ("What kind of diet do I follow now?", "How do I eat these days, food-wise?"),
        ("mentioned their diet", "talked about changing their diet"),
    ),
    _Chain(
        "commute",
        ("cycle", "take the train", "drive", "walk", "take the bus"),
        ("I {v} to work most days, it takes about forty minutes.",),
        ("New routine: I {v} to the office now, so much easier.",
         "My commute has changed: I {v} in these days."),
        ("How do I get to work now?", "What's my commute like these days?"),
        ("talked about their commute", "mentioned a new commute"),
    ),
    _Chain(
        "phone",
        ("iPhone 12", "Pixel 7", "Galaxy S21", "Fairphone 4", "iPhone 15"),
        ("My {v} battery barely lasts till lunch these days.",),
        ("Finally replaced the phone, I've got the {v} now.",
         "Upgraded to the {v}; moving all my photos across took hours."),
        ("What phone do I have now?", "Which phone am I using these days?"),
        ("complained about their phone", "mentioned a new phone"),
    ),
    _Chain(
        "race",
        ("a 10k", "a half marathon", "a full marathon", "an ultra"),
        ("I'm training for {v} in the autumn, slowly.",),
        ("Change of plan: I've entered {v} instead. Terrifying.",
         "Signed up for {v}, no going back now.",
         "New race goal: {v} in October."),
        ("What race am I training for now?", "What's my current running goal?"),
        ("talked about their race training", "mentioned a new race goal"),
        ordered=True,
    ),
    _Chain(
        "coffee",
        ("flat white", "oat latte", "black americano", "cortado", "matcha latte"),
        ("My usual order is a {v}, every single morning.",),
        ("I've switched my usual to a {v}, don't judge.",
         "New coffee order: a {v}, every morning now."),
        ("What's my usual café order now?", "What do I order at the café these days?"),
        ("mentioned their café habits", "talked about a new coffee order"),
    ),
    _Chain(
        "sister-city",
        ("Leeds", "Glasgow", "Manchester", "Belfast", "Newcastle", "Dublin"),
        ("{sister} lives in {v}, so I don't see her as often as I'd like.",),
        ("{sister} has moved to {v} for work!",
         "Helped {sister} move into her new place in {v}, my back is wrecked."),
        ("Where does {sister} live now?", "Which city is my sister in these days?"),
        ("talked about their sister", "mentioned their sister's move"),
    ),
)  # fmt: skip

_ACKS = (
    "Thanks for telling me, I'll keep that in mind.",
    "Good to know! Anything I can help with?",
    "Noted. Tell me more whenever you like.",
    "Fair enough. It's the small details that make a week, really.",
)
_CHANGE_ACKS = (
    "That's a big change! How are you settling in?",
    "Oh, that's news! How do you feel about it?",
    "Change can be a lot, even the good kind. I hope it's going smoothly.",
)


@dataclass(frozen=True)
class _Rec:
    """Something the assistant recommended: asked for by subject, named in the answer."""

    name: str
    subjects: tuple[tuple[str, str], ...]
    titles: tuple[tuple[str, ...], ...]  # word pools; a title is one word from each
    request: tuple[str, ...]
    answer: tuple[str, ...]
    ask: tuple[str, ...]
    summary: str


_RECS = (
    _Rec(
        "book",
        (("building better habits", "changing my routines"),
         ("the history of the Silk Road", "ancient trade routes across Asia"),
         ("negotiation", "getting a better deal"), ("sleep", "resting better at night"),
         ("personal finance", "managing my money"), ("the ocean", "marine life"),
         ("stoicism", "that ancient philosophy about calm"), ("leadership", "managing a team"),
         ("urban design", "how cities are planned"), ("grief", "coping with loss"),
         ("the Roman Empire", "ancient Rome"), ("birdwatching", "spotting wildlife"),
         ("climate change", "global warming"), ("learning to draw", "sketching skills"),
         ("public speaking", "giving talks"),
         ("the history of medicine", "how doctors used to work"),
         ("minimalism", "owning fewer things"), ("running", "jogging")),
        (("Small", "Deep", "Slow", "Clear", "Steady", "Open", "Wild"),
         ("Steps", "Waters", "Roads", "Minds", "Maps", "Hours", "Ground", "Signals")),
        ("Can you recommend a good book about {subject}?",
         "I want to read something about {subject}. Any suggestions?"),
        ("You might enjoy {title} by {author}. It's practical without being preachy, and the "
         "chapters are short enough to read on a commute.",
         "Try {title} by {author}; it's one of the most readable introductions to {subject}, "
         "full of stories rather than lectures.",
         "{title} by {author} is a good place to start. It's about two hundred pages and "
         "doesn't assume any background."),
        ("What was the book you recommended about {subject}?",
         "Remind me which book you suggested on {subject_para}?"),
        "asked for reading suggestions on {subject}",
    ),
    _Rec(
        "podcast",
        (("true crime", "criminal cases"), ("startups", "founding a company"),
         ("science news", "research discoveries"), ("football tactics", "soccer strategy"),
         ("parenting", "raising kids"), ("world history", "the past"),
         ("design", "visual craft"), ("investing", "growing my savings"),
         ("mental health", "looking after my mind"), ("architecture", "buildings"),
         ("gardening", "growing plants"), ("the music industry", "how songs get made"),
         ("space exploration", "astronauts and rockets"),
         ("philosophy", "big questions about life")),
        (("Open", "Loose", "Quiet", "Bright", "Side", "Long"),
         ("Ends", "Threads", "Signals", "Rooms", "Notes"), ("Radio", "Hour", "Weekly")),
        ("Any podcast recommendations about {subject}?",
         "I need a new podcast for my commute, something on {subject}."),
        ("Have a look at {title}. The episodes are around forty minutes and the hosts are good "
         "at explaining without dumbing it down.",
         "{title} is a solid pick for {subject}; start with the older episodes, they're the "
         "strongest."),
        ("What podcast did you suggest about {subject}?",
         "Which show did you recommend on {subject_para}?"),
        "looked for a podcast about {subject}",
    ),
    _Rec(
        "recipe",
        (("a quick vegetarian dinner", "a fast meat-free meal"),
         ("something to use up leftover rice", "a way to finish yesterday's grains"),
         ("a make-ahead lunch for the week", "meal prep for the office"),
         ("a dessert that needs no oven", "a pudding without baking"),
         ("a cheap meal for six", "feeding a crowd on a budget"),
         ("a high-protein meal after training", "food after the gym"),
         ("a one-pot dinner", "a supper with minimal washing up"),
         ("a packed lunch for a hike", "food to carry on a long walk"),
         ("a vegan birthday cake", "a plant-based celebration bake"),
         ("something warming for a cold night", "a winter comfort meal")),
        (("smoky", "lemony", "garlicky", "spiced", "herby", "sticky"),
         ("chickpea and spinach", "mushroom and leek", "salmon and pea", "chicken and chorizo",
          "lentil and squash", "tofu and broccoli"),
         ("stew", "traybake", "pasta", "fried rice", "curry", "fritters", "soup")),
        ("Can you suggest {subject}?", "I need an idea for {subject}."),
        ("How about a {title}? It takes about thirty minutes, uses one pan, and the leftovers "
         "keep for two days.",
         "Try a {title}: soften an onion, add the main ingredients with whatever spices you "
         "like, simmer, and finish with lemon and herbs."),
        ("What was the recipe you suggested for {subject}?",
         "What did you tell me to make for {subject_para}?"),
        "asked for {subject}",
    ),
    _Rec(
        "stretch",
        (("lower back pain", "my aching spine"),
         ("tight hips from sitting", "stiffness around my pelvis"),
         ("a stiff neck", "tension from staring at screens"),
         ("tight hamstrings", "the backs of my legs"),
         ("sore shoulders", "upper body tension"), ("runner's knee", "pain around my kneecap"),
         ("tight calves", "the lower legs after running"),
         ("wrist pain from typing", "aching from the keyboard")),
        (("the cat-cow stretch", "child's pose", "a figure-four stretch", "the couch stretch",
          "a doorway chest stretch", "thread the needle", "a seated hamstring fold",
          "chin tucks"),),
        ("What's a good stretch for {subject}?", "Is there a stretch that helps with {subject}?"),
        ("A good one is {title}: hold it for thirty seconds, breathe slowly, and repeat three "
         "times on each side. Stop if anything feels sharp rather than just tight.",
         "Try {title}, morning and evening, gently and without bouncing."),
        ("Which stretch did you recommend for {subject}?",
         "What exercise did you suggest for {subject_para}?"),
        "asked about stretches for {subject}",
    ),
    _Rec(
        "gift",
        (("Mum's birthday", "a present for my mother"),
         ("{partner}'s anniversary present", "something for my other half"),
         ("my brother's fortieth", "my sibling turning forty"),
         ("a leaving gift for a colleague", "a coworker who's moving on"),
         ("my nephew's birthday", "a toddler present"),
         ("a housewarming gift", "a friend's new home"),
         ("my sister's graduation", "a sibling finishing her studies"),
         ("a thank-you present for my neighbour", "someone next door who helped me"),
         ("a secret Santa at work under twenty pounds", "a cheap office Christmas swap")),
        (("a pasta-making class for two", "a subscription to a small coffee roaster",
          "a framed print of an old map", "a good pair of gardening gloves and some seeds",
          "a cheese-making course", "a vintage-style radio", "a wooden balance bike",
          "a fancy olive oil set"),),
        ("I need a gift idea for {subject}. Any thoughts?",
         "Help! What should I get for {subject}?"),
        ("What about {title}? It's personal without being over the top, and experiences tend "
         "to be remembered longer than things.",
         "I'd go for {title}. Add a handwritten note and it'll land well."),
        ("What gift did you suggest for {subject}?",
         "What did you propose I buy for {subject_para}?"),
        "looked for a gift idea",
    ),
    _Rec(
        "film",
        (("a cosy film for a rainy Sunday", "a comforting movie"),
         ("a clever heist film", "a smart robbery movie"),
         ("a documentary about food", "a non-fiction movie on cooking"),
         ("something scary but not gory", "a horror without blood"),
         ("a film to watch with my parents", "a movie for the whole family"),
         ("an old black-and-white classic", "a vintage picture"),
         ("a feel-good sports film", "an uplifting movie about athletes"),
         ("a film set in space", "a movie among the stars"),
         ("a subtitled drama", "a foreign-language picture")),
        (("Midnight", "The Last", "Paper", "Under the", "Golden", "Small"),
         ("Harvest", "Lanterns", "Crossing", "Summer", "Accord", "Kitchen")),
        ("Can you recommend {subject}?", "Looking for {subject} tonight. Ideas?"),
        ("{title} would be my pick. It's under two hours, beautifully shot, and doesn't ask "
         "too much of you.",
         "Try {title}; people who like that sort of thing tend to love it."),
        ("What film did you recommend when I wanted {subject}?",
         "What movie did you suggest as {subject_para}?"),
        "asked for a film suggestion",
    ),
)  # fmt: skip


# -- distractors -----------------------------------------------------------------------

# General questions and the sentences long answers to them are drawn from: (how a
# summary says it, the user's questions, the answer's sentences).
_ADVICE = (
    ("asked how to look after a sourdough starter",
     ("My sourdough starter smells like nail polish. Is it dead?",
      "How often should I feed a sourdough starter?"),
     ("A starter that smells of nail polish is hungry, not dead.",
      "That sharp smell is acetone-like byproducts from the yeast running out of food.",
      "Feed it at a ratio of one part starter to two parts flour and two parts water.",
      "Keep it somewhere warm, around twenty-four degrees, and it will bounce back within a "
      "couple of feeds.",
      "If you bake once a week, storing it in the fridge and feeding it weekly is fine.",
      "Use it when it has doubled and is domed and bubbly on top.",
      "A layer of grey liquid on top is harmless; pour it off or stir it back in.",
      "Discard can go into pancakes or crackers so nothing is wasted.")),
    ("asked about beating jet lag",
     ("What's the best way to deal with jet lag?", "How do I stop jet lag ruining the first days?"),
     ("Shift your sleep by an hour a day for a few days before you fly, if you can.",
      "Get bright light in the morning at your destination; it's the strongest signal to your "
      "body clock.",
      "Avoid long naps on arrival; twenty minutes is the most you want.",
      "Stay hydrated on the plane and go easy on alcohol.",
      "Eat meals at local times straight away.",
      "Flying east is usually harder than flying west.",
      "A small dose of melatonin at local bedtime helps some people, but check with a pharmacist.",
      "Plan something easy for the first day rather than anything important.")),
    ("asked about crate training a puppy",
     ("Any tips for crate training a puppy?", "How do I get a puppy to sleep through the night?"),
     ("Make the crate a nice place first: treats, a chew and a blanket, with the door open.",
      "Build up time inside gradually, starting with a few minutes while you're in the room.",
      "Never use the crate as punishment, or the dog will learn to hate it.",
      "Young puppies need a toilet break every few hours at night at first.",
      "Covering the crate with a blanket can make it feel more like a den.",
      "A worn T-shirt that smells of you often settles them.",
      "Expect a few rough nights; consistency matters more than any single trick.",
      "Tire them out with play and a short walk before bed.")),
    ("asked for help with sleep",
     ("I keep waking up at 4am. Any ideas?", "How can I fall asleep faster?"),
     ("Keep the same wake-up time every day, weekends included; it anchors everything else.",
      "Cut caffeine after about two in the afternoon.",
      "A cool, dark room helps most people sleep more deeply.",
      "If you're awake for more than twenty minutes, get up and do something dull in dim light.",
      "Alcohol makes you drowsy but fragments sleep later in the night.",
      "Screens aren't the villain they're made out to be, but stimulating content is.",
      "A short wind-down routine signals to your brain that the day is over.",
      "If it goes on for weeks, it's worth talking to a doctor.")),
    ("asked why their houseplants were struggling",
     ("Why are the leaves on my monstera going yellow?", "How often should I water houseplants?"),
     ("Yellow leaves are most often a sign of overwatering rather than thirst.",
      "Check the soil a couple of centimetres down; water only when it's dry.",
      "Pots need drainage holes, otherwise roots sit in water and rot.",
      "Most houseplants like bright, indirect light rather than direct sun.",
      "Growth slows in winter, so they need less water then.",
      "Wipe dust off big leaves so they can photosynthesise properly.",
      "Repot only when roots start circling the bottom of the pot.")),
    ("asked whether a password manager is worth it",
     ("Should I use a password manager?", "Is it safe to keep all my passwords in one app?"),
     ("A password manager is one of the best security upgrades most people can make.",
      "It lets you use a long, unique password for every site without remembering them.",
      "The main risk is your master password, so make it a long passphrase.",
      "Turn on two-factor authentication for the manager itself.",
      "Reused passwords are how most accounts get taken over after a breach.",
      "Most managers can import from your browser, so switching takes an evening.",
      "Keep a printed recovery code somewhere safe at home.")),
    ("asked for help with a household budget",
     ("How do I actually stick to a budget?", "Is the 50/30/20 budget any good?"),
     ("The 50/30/20 split is a reasonable starting point: needs, wants, and savings.",
      "Track your spending for a month before setting limits; most people are surprised.",
      "Automate savings on payday so it happens before you can spend it.",
      "Give yourself a guilt-free fun amount, otherwise budgets collapse.",
      "Review subscriptions every few months; they quietly add up.",
      "An emergency fund of three months' expenses takes the panic out of surprises.",
      "Budget for irregular costs like car repairs and birthdays by saving a little monthly.")),
    ("asked for an explanation of compound interest",
     ("Can you explain compound interest simply?", "Why does everyone say start saving early?"),
     ("Compound interest means you earn interest on your interest, not just on what you put in.",
      "Over long periods that snowball effect dominates the amount you contributed.",
      "At seven percent a year, money roughly doubles every ten years.",
      "Starting ten years earlier can matter more than saving twice as much later.",
      "Fees compound too, which is why low-cost funds make such a difference.",
      "The same maths works against you with credit card debt.",
      "Regular small contributions benefit from it as much as lump sums.")),
    ("asked how to give difficult feedback at work",
     ("How do I give negative feedback without making it awkward?",
      "A colleague keeps missing deadlines. How do I raise it?"),
     ("Be specific about the behaviour and its effect, not the person's character.",
      "Raise it privately and soon after it happens, while the details are fresh.",
      "Ask for their view before proposing solutions; there may be context you don't have.",
      "Agree a concrete next step and a time to check in.",
      "Keep the tone matter-of-fact; drama makes people defensive.",
      "Praise in public, critique in private is an old rule for good reason.",
      "Follow up in writing with a short summary so nothing gets lost.")),
    ("asked about damp and mould at home",
     ("There's black mould on my bedroom ceiling. What should I do?",
      "How do I stop condensation on the windows every morning?"),
     ("Most household mould comes from condensation rather than leaks.",
      "Open windows for ten minutes in the morning to let the moist air out.",
      "Dry clothes outside or in a ventilated room if you can.",
      "Use the extractor fan when cooking and showering, and leave it on a little after.",
      "Small patches can be cleaned with a mould spray; wear gloves and a mask.",
      "Keep furniture a few centimetres from outside walls so air can circulate.",
      "If you rent and it keeps coming back, report it to your landlord in writing.")),
    ("asked how to stick with learning a language",
     ("How do I stay motivated learning a language?", "Are language apps enough to become fluent?"),
     ("Apps are great for habit and vocabulary but won't get you to conversation on their own.",
      "Speaking early, even badly, is what builds confidence.",
      "Short daily practice beats long weekly sessions.",
      "Pick content you'd enjoy anyway, like shows or podcasts, in the language.",
      "Learn the most common thousand words first; they cover most everyday speech.",
      "A tutor once a week gives you accountability and real conversation.",
      "Expect plateaus; they're normal and usually come before a jump.")),
    ("asked how to pack light",
     ("How do I fit a week into a carry-on?", "Any tips for packing light?"),
     ("Pick a colour palette so everything goes with everything.",
      "Wear your bulkiest shoes and jacket on the journey.",
      "Packing cubes make a small bag far easier to live out of.",
      "Plan to do one small wash midway instead of packing for every day.",
      "Decant toiletries into small bottles, or buy them when you arrive.",
      "Lay everything out, then put a third of it back.",
      "A light scarf doubles as a blanket on cold planes.")),
    ("asked for dinner party tips",
     ("How do I host a dinner party without stressing?", "What's an easy menu for eight people?"),
     ("Choose dishes you've made before; a dinner party isn't the time for experiments.",
      "A slow-cooked main frees you up because it waits happily in the oven.",
      "Do a cold starter or just nibbles so there's nothing to plate at the last minute.",
      "Ask about dietary needs when you invite people.",
      "Set the table the night before.",
      "Dessert can be bought; nobody minds good ice cream.",
      "Clear the dishwasher before guests arrive so tidying up is easy.")),
    ("asked about shin splints",
     ("My shins hurt after running. Is that shin splints?", "How do I avoid shin splints?"),
     ("Shin pain after running is often shin splints, an overload of the tissue along the bone.",
      "It usually comes from increasing mileage too quickly.",
      "Reduce your running for a week or two and cross-train instead.",
      "Check your shoes; worn-out cushioning is a common culprit.",
      "Strengthening your calves helps them absorb more of the load.",
      "Pain that's sharp in one spot could be a stress fracture and needs checking.",
      "Build back up by no more than about ten percent a week.")),
    ("asked how to read more",
     ("How do I read more books when I'm so busy?", "Any tricks for reading more this year?"),
     ("Carry a book, or have one on your phone, for all the small gaps in the day.",
      "Ten pages before bed adds up to a dozen books a year.",
      "Give yourself permission to abandon books you're not enjoying.",
      "Audiobooks count, especially for commutes and chores.",
      "Keep the next book lined up so there's no gap between them.",
      "Book clubs help with motivation and push you towards new genres.",
      "Put your phone in another room for the first half hour of the evening.")),
    ("asked about tipping in restaurants",
     ("How much should I tip at a restaurant?", "Is the service charge the tip?"),
     ("In the UK around ten to twelve and a half percent is typical for table service.",
      "If a service charge is already on the bill, you don't need to add more.",
      "Cash tips are more likely to reach the staff directly.",
      "Tipping for counter service is optional.",
      "In the US the norm is much higher, often eighteen to twenty percent.",
      "You can ask to have a service charge removed if service was poor.")),
    ("asked how to choose a mattress",
     ("How do I choose a new mattress?", "Is memory foam better than springs?"),
     ("Firmness is personal: side sleepers usually prefer softer, back sleepers firmer.",
      "Memory foam moulds to you but can sleep hot; pocket springs are cooler.",
      "Look for a long home trial; a shop test of five minutes tells you little.",
      "Check the returns process before buying, since mattresses are bulky.",
      "A good mattress lasts around eight to ten years.",
      "If you share a bed, a larger size often improves sleep more than a pricier model.")),
    ("asked how to negotiate a salary",
     ("How do I negotiate a pay rise?", "They made me an offer. Should I negotiate?"),
     ("Research market rates first so your number is grounded in evidence.",
      "Let them make the first offer where possible.",
      "Negotiate the whole package: holiday, flexibility and training count too.",
      "Practise saying your number out loud; it makes it easier in the moment.",
      "A polite counter-offer almost never makes an employer withdraw.",
      "Get the final agreement in writing.",
      "Focus on the value you bring rather than on what you need.")),
)  # fmt: skip

_GREETINGS = (
    ("Morning!", "Good morning! What's on your mind?"),
    ("Back again!", "Welcome back! What can I do for you?"),
    ("Hi there", "Hello! How can I help today?"),
)
_SMALL_TALK = (
    ("Hey, quick question before I forget.", "Sure, go ahead."),
    ("Thanks, that's really helpful!", "Glad it helped!"),
    ("Ha, fair enough.", "Anytime."),
    ("Ok, that makes sense.", "Great, shout if anything else comes up."),
    ("Long day today.", "Sounds like it. I hope the evening is calmer."),
    ("Rainy again, perfect excuse to stay in with a cup of tea.",
     "A cup of tea and a rainy day is a fine combination."),
    ("Can't believe it's already the weekend.", "Time flies. Any plans?"),
    ("Sorry, got distracted, where were we?",
     "No worries at all, we can pick up wherever you like."),
    ("The neighbour's drilling has been going since eight this morning.",
     "That sounds maddening. Headphones might be your friend today."),
    ("Feeling a bit flat today, not sure why.",
     "That happens to everyone sometimes. Be kind to yourself, and a walk can help more than "
     "you'd expect."),
)  # fmt: skip
_CLOSINGS = ("Ok, thanks, talk later!", "Cheers, bye for now.", "Right, off to bed.")
_OPENERS = ("The user", "In this session the user", "The user")
_MENTION_REPLIES = (
    "Oh no, that sounds like a lot.",
    "I know the feeling.",
    "Sounds like you've earned a quiet evening.",
    "That's very relatable.",
)
_PREP_SUMMARY = {
    "trip": "asked for tips on visiting {city}",
    "meal": "asked how to cook {dish}",
    "restaurant": "asked about making {rdish} at home",
    "run": "asked how to pace a {km} km run",
    "appointment": "asked about seeing a {atype}",
    "purchase": "asked whether {item_a} is worth buying",
    "meeting": "asked for help preparing a meeting on {project}",
}


# -- building a set --------------------------------------------------------------------


@dataclass(frozen=True)
class _Ask:
    """Questions an episode answers, if ``cue`` (its fields) singles it out among its kind."""

    category: str
    cue: tuple[str, ...]
    texts: tuple[str, ...]
    also: tuple[_Episode, ...] = ()  # further episodes whose answer turns also answer


@dataclass(eq=False)
class _Episode:
    """A run of turns about one thing; ``lines[answer]`` is the turn that carries the facts."""

    lines: list[tuple[str, str]]
    kind: str = ""  # a recurring kind's name, "static:...", "chain:...", "rec:...", or ""
    fields: dict[str, str] = field(default_factory=dict)
    summary: str = ""  # a phrase for the session's summary ("talked about ...")
    note: str = ""  # a sentence the summary adds at its end
    answer: int = 0
    split: bool = False
    asks: list[_Ask] = field(default_factory=list)
    span: tuple[float, float] = (0.0, 1.0)  # share of the sessions it may be placed in
    after: _Episode | None = None  # in a later session than this
    before: _Episode | None = None  # in the same session, ahead of it, or up to 6 sessions earlier
    session: int = -1
    keys: list[str] = field(default_factory=list)
    day: date | None = None

    @property
    def evidence(self) -> str:
        """The key of the answer turn."""
        return self.keys[self.answer]


@dataclass(frozen=True)
class _Seed:
    """A candidate question."""

    category: str
    text: str
    asked_at: datetime
    episodes: tuple[_Episode, ...]

    @property
    def evidence(self) -> frozenset[str]:
        """The answer turns of its episodes."""
        return frozenset(episode.evidence for episode in self.episodes)


def _say(template: str, fields: dict[str, str]) -> str:
    """``template`` filled in, each sentence starting with a capital."""
    text = template.format_map(fields)
    return re.sub(r"(^|[.!?] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


class _Builder:
    """Makes one set: events, their placement in sessions, turns, summaries, questions."""

    def __init__(self, rng: random.Random, sessions: int, turns_per_session: int) -> None:
        self.rng = rng
        self.sessions = sessions
        self.turns = turns_per_session
        self.persona = _persona(rng)
        self.decks = _Decks(rng)
        self.facts: list[_Episode] = []
        self.preps: list[_Episode] = []
        self.placed: list[list[_Episode]] = [[] for _ in range(sessions)]
        self.end = datetime.combine(_START, time(), tzinfo=UTC)
        self._families: Counter[str] = Counter(dict.fromkeys(_FAMILIES, 0))

    def pair(self, kind: str, fields: dict[str, str], user: str, assistant: str) -> _Episode:
        """A user turn and the assistant's answer."""
        lines = [("user", _say(user, fields)), ("assistant", _say(assistant, fields))]
        return _Episode(lines, kind=kind, fields=fields)

    # -- facts ---------------------------------------------------------------------
    def events(self) -> None:
        """Every fact episode: recurring events, one-off facts, changes, recommendations."""
        rng, p = self.rng, self.persona
        total = round(1.5 * self.sessions)
        weight = sum(kind.share for kind in _KINDS)
        for kind in _KINDS:
            for _ in range(max(2, round(total * kind.share / weight))):
                self.event(kind, {**p, **_fields(kind.name, rng, self.decks, p)})
        for static in _statics(rng, p):
            self.static(static)
        for chain in _CHAINS:
            self.chain(chain)
        for i in range(max(len(_RECS), round(0.4 * self.sessions))):
            self.recommendation(_RECS[i % len(_RECS)])

    def event(self, kind: _Kind, fields: dict[str, str]) -> None:
        """One recurring event, told in one turn or two, maybe prepared for earlier."""
        rng = self.rng
        if kind.split and rng.random() < 0.3:
            intro, prompt, details, questions = rng.choice(kind.split)
            episode = self.pair(kind.name, fields, intro, prompt)
            episode.lines += [
                ("user", _say(details, fields)),
                ("assistant", _say(rng.choice(kind.reply), fields)),
            ]
            episode.answer, episode.split = 2, True
            episode.asks.append(_Ask("context", kind.split_cue, questions))
        else:
            episode = self.pair(kind.name, fields, rng.choice(kind.say), rng.choice(kind.reply))
            episode.asks += [_Ask(category, cue, texts) for category, cue, texts in kind.ask]
        episode.summary = rng.choice(kind.summary).format_map(fields)
        self.facts.append(episode)
        if kind.prep_ask and rng.random() < 0.4:
            prep = self.pair(
                "", fields, rng.choice(kind.prep_ask), self.long_answer(kind.prep_bank, fields)
            )
            prep.summary = _PREP_SUMMARY[kind.name].format_map(fields)
            prep.before = episode
            self.preps.append(prep)

    def static(self, static: _Static) -> None:
        """A one-off fact: plain, said twice (multi-session), or over two turns (context)."""
        rng = self.rng
        fields = {**self.persona, **static.fields}
        kind = f"static:{static.name}"
        if static.split is not None and rng.random() < 0.4:
            intro, prompt, details, questions = static.split
            episode = self.pair(kind, fields, intro, prompt)
            episode.lines += [("user", _say(details, fields)), ("assistant", rng.choice(_ACKS))]
            episode.answer, episode.split = 2, True
            episode.asks.append(_Ask("context", (), questions))
        else:
            episode = self.pair(kind, fields, rng.choice(static.say), rng.choice(_ACKS))
            again = None
            if static.restate and rng.random() < 0.5:
                again = self.pair(kind, fields, rng.choice(static.restate), rng.choice(_ACKS))
                again.after = episode
                self.facts.append(again)
            for category, texts in static.ask:
                if again is None:
                    episode.asks.append(_Ask(category, (), texts))
                else:
                    episode.asks.append(_Ask("multi-session", (), texts, (again,)))
        episode.summary = static.summary.format_map(fields)
        self.facts.append(episode)

    def chain(self, chain: _Chain) -> None:
        """A fact that changes once or twice; the question asks for the value now."""
        rng, p = self.rng, self.persona
        count = 3 if chain.name == "home" else rng.choice((2, 2, 3))
        if chain.ordered:
            start = rng.randrange(len(chain.pool) - count + 1)
            values = list(chain.pool[start : start + count])
        else:
            values = rng.sample(chain.pool, count)
        values = [value.format_map(p) for value in values]
        episode = None
        for i, value in enumerate(values):
            fields = {**p, "v": value, "old": values[i - 1] if i else ""}
            template = rng.choice(chain.change if i else chain.first)
            acks = _CHANGE_ACKS if i else _ACKS
            episode = self.pair(f"chain:{chain.name}", fields, template, rng.choice(acks))
            episode.summary = chain.summary[min(i, 1)].format_map(fields)
            episode.span = (i / count + (0.03 if i else 0.0), (i + 1) / count - 0.03)
            self.facts.append(episode)
        assert episode is not None
        episode.asks.append(_Ask("knowledge-update", (), chain.ask))

    def recommendation(self, rec: _Rec) -> None:
        """The user asks for a recommendation; the assistant's answer is the evidence."""
        rng = self.rng
        subject, para = self.decks.draw(f"rec:{rec.name}", rec.subjects)
        fields = {
            **self.persona,
            "subject": subject.format_map(self.persona),
            "subject_para": para,
            "title": " ".join(rng.choice(words) for words in rec.titles),
            "author": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
        }
        episode = self.pair(
            f"rec:{rec.name}", fields, rng.choice(rec.request), rng.choice(rec.answer)
        )
        episode.answer = 1
        episode.summary = rec.summary.format_map(fields)
        if rng.random() < 0.5:
            episode.note = "The assistant suggested {title}.".format_map(fields)
        episode.asks.append(_Ask("assistant", ("subject",), rec.ask))
        self.facts.append(episode)

    def long_answer(self, bank: Sequence[str], fields: dict[str, str]) -> str:
        """The bank's first sentence and three to six of the others, in the bank's order."""
        rest = sorted(
            self.rng.sample(range(1, len(bank)), min(len(bank) - 1, self.rng.randint(3, 6)))
        )
        return " ".join(_say(bank[i], fields) for i in [0, *rest])

    # -- placement -----------------------------------------------------------------
    def place(self) -> None:
        """Put each fact in a session (dropping what does not fit), then fill every session.

        About one session in eight holds no facts at all. Changes keep their order,
        a fact said twice is said in two sessions, a topic recurs at most once per
        session, and a preparing question comes before its event.
        """
        rng, count = self.rng, self.sessions
        quiet = set(rng.sample(range(count), max(1, count // 8)))
        used = [0] * count
        shuffled = list(self.facts)
        rng.shuffle(shuffled)
        order = sorted(shuffled, key=lambda e: (e.after is not None, e.span == (0.0, 1.0)))
        for episode in [*order, *self.preps]:
            lo = int(episode.span[0] * count)
            hi = max(lo + 1, math.ceil(episode.span[1] * count))
            reserve = 4 if episode.kind else 0
            if episode.after is not None:
                lo = max(lo, episode.after.session + 1)
                if episode.after.session < 0:
                    continue
            if episode.before is not None:
                if episode.before.session < 0:
                    continue
                lo, hi = max(lo, episode.before.session - 6), episode.before.session + 1
            options = [
                s
                for s in range(lo, min(hi, count))
                if (s not in quiet or not episode.kind)
                and used[s] + len(episode.lines) + reserve <= self.turns
                and all(e.kind != episode.kind or not e.kind for e in self.placed[s])
            ]
            if not options:
                continue
            fewest = min(len(self.placed[s]) for s in options)
            session = rng.choice([s for s in options if len(self.placed[s]) <= fewest + 1])
            episode.session = session
            self.placed[session].append(episode)
            used[session] += len(episode.lines)
        for session in range(count):
            self.fill(session, self.turns - used[session])

    def fill(self, session: int, left: int) -> None:
        """Fill ``left`` turns of ``session`` with advice, passing mentions and small talk."""
        rng, p = self.rng, self.persona
        episodes = self.placed[session]
        rng.shuffle(episodes)
        for prep in [e for e in episodes if e.before in episodes]:
            episodes.remove(prep)
            assert prep.before is not None
            episodes.insert(episodes.index(prep.before), prep)
        seen = [e.kind for s in range(session) for e in self.placed[s] if e.kind in _KIND]
        seen = [kind for kind in seen if _KIND[kind].mentions]
        said: list[str] = []  # no topic or remark twice in a session
        extra: list[_Episode] = []
        greeted = left >= 2 and rng.random() < 0.5
        if greeted:
            user, assistant = rng.choice(_GREETINGS)
            episodes.insert(0, self.pair("", p, user, assistant))
            left -= 2
        while left >= 2:
            roll = rng.random()
            if roll < 0.5:
                summary, requests, bank = rng.choice(_ADVICE)
                said.append(summary)
                episode = self.pair("", p, rng.choice(requests), self.long_answer(bank, p))
                episode.summary = summary
            elif roll < 0.7 and seen:
                mention = rng.choice(_KIND[rng.choice(seen)].mentions)
                said.append(mention)
                episode = self.pair("", p, mention, rng.choice(_MENTION_REPLIES))
            else:
                user, assistant = rng.choice(_SMALL_TALK)
                said.append(user)
                episode = self.pair("", p, user, assistant)
            if said[-1] in said[:-1]:
                said.pop()
                continue
            extra.append(episode)
            left -= 2
        for episode in extra:
            episodes.insert(rng.randint(1 if greeted else 0, len(episodes)), episode)
        if left:
            episodes.append(_Episode([("user", rng.choice(_CLOSINGS))]))

    # -- turns and summaries -------------------------------------------------------
    def layout(self) -> tuple[list[Turn], list[Summary]]:
        """Turns with keys and times, sessions one to four days apart; a summary each."""
        rng = self.rng
        width = max(2, len(str(self.sessions)))
        turns: list[Turn] = []
        summaries: list[Summary] = []
        day = _START
        for index, episodes in enumerate(self.placed):
            if index:
                day += timedelta(days=rng.choices(_GAP_DAYS, _GAP_WEIGHTS)[0])
            name = f"s{index + 1:0{width}d}"
            moment = datetime.combine(day, time(rng.randint(7, 20), rng.randint(0, 59)), tzinfo=UTC)
            keys: list[str] = []
            for episode in episodes:
                for line, (role, text) in enumerate(episode.lines):
                    if keys:
                        seconds = (
                            rng.randint(15, 50) if role == "assistant" else rng.randint(60, 240)
                        )
                        moment += timedelta(seconds=seconds)
                    key = f"{name}/t{len(keys) + 1:03d}"
                    keys.append(key)
                    episode.keys.append(key)
                    if line == episode.answer:
                        episode.day = moment.date()
                    turns.append(Turn(key, name, role, text, moment))
            text = _summarise(rng, [e.summary for e in episodes if e.summary])
            text = " ".join([text, *(e.note for e in episodes if e.note)])
            summaries.append(Summary(f"{name}/summary", name, text, tuple(keys)))
        self.end = turns[-1].time
        return turns, summaries

    # -- questions -----------------------------------------------------------------
    def asked_at(self) -> datetime:
        """A moment half a day to two and a half days after the last session."""
        later = self.end + timedelta(hours=self.rng.uniform(12, 60))
        return later.replace(second=0, microsecond=0)

    def seeds(self) -> list[_Seed]:
        """Every candidate question, each checked to have exactly its evidence."""
        placed = [e for episodes in self.placed for e in episodes if e.kind]
        by_kind: dict[str, list[_Episode]] = {}
        for episode in placed:
            by_kind.setdefault(episode.kind, []).append(episode)
        seeds: list[_Seed] = []
        for episode in placed:
            for ask in episode.asks:
                if any(other.session < 0 for other in ask.also):
                    continue
                cue = [episode.fields[name] for name in ask.cue]
                twins = [e for e in by_kind[episode.kind] if [e.fields[n] for n in ask.cue] == cue]
                if ask.cue and len(twins) != 1:
                    continue
                for text in ask.texts:
                    seeds.append(
                        _Seed(
                            ask.category,
                            _say(text, episode.fields),
                            self.asked_at(),
                            (episode, *ask.also),
                        )
                    )
        for kind in _KINDS:
            others = [e for name in kind.also_when for e in by_kind.get(name, [])]
            seeds += self.temporal(kind, by_kind.get(kind.name, []), others)
            if kind.group is not None:
                seeds += self.grouped(kind, kind.group, by_kind.get(kind.name, []))
        return seeds

    def temporal(self, kind: _Kind, events: list[_Episode], others: list[_Episode]) -> list[_Seed]:
        """One question per event told in one turn, naming its day, week or month.

        The phrase is one whose window holds no other event of the kind; among the
        families of phrases (yesterday, last week, on the 14th, in early March, in
        March) the one used least so far is preferred. ``others`` are episodes of other
        kinds the question could also mean (a new car is a purchase too).
        """
        days = [e.day for e in [*events, *others]]
        seeds = []
        for event in events:
            if event.split or event.day is None:
                continue
            asked_at = self.asked_at()
            phrases = [
                (family, phrase)
                for family, phrase, start, end in _time_phrases(event.day, asked_at.date())
                if sum(1 for d in days if d is not None and start <= d < end) == 1
            ]
            if not phrases:
                continue
            least = min(self._families[f] for f, _ in phrases)
            family, phrase = self.rng.choice(
                [fp for fp in phrases if self._families[fp[0]] == least]
            )
            self._families[family] += 1
            text = _say(self.rng.choice(kind.when), {"when": phrase})
            seeds.append(_Seed("temporal", text, asked_at, (event,)))
        return seeds

    def grouped(self, kind: _Kind, name: str, events: list[_Episode]) -> list[_Seed]:
        """Questions about every event sharing a detail (a companion, a guest, a shop).

        Only details shared by two or three events in two or more sessions make a
        question, and only if one of them is told in one turn (for some kinds, all of
        them); any of the events answers it. Larger groups would make the question
        too easy to hit.
        """
        groups: dict[str, list[_Episode]] = {}
        for event in events:
            groups.setdefault(event.fields[name], []).append(event)
        seeds = []
        for members in groups.values():
            if len({e.session for e in members}) < 2 or len(members) > 3:
                continue
            if all(e.split for e in members) or (
                not kind.group_split and any(e.split for e in members)
            ):
                continue
            for text in kind.group_ask:
                seeds.append(
                    _Seed(
                        "multi-session",
                        _say(text, members[0].fields),
                        self.asked_at(),
                        tuple(members),
                    )
                )
        return seeds

    def questions(self, count: int) -> list[Question]:
        """``count`` questions in the categories' shares, preferring unasked-about episodes."""
        rng = self.rng
        pools: dict[str, list[_Seed]] = {category: [] for category in CATEGORIES}
        for seed in self.seeds():
            pools[seed.category].append(seed)
        for pool in pools.values():
            rng.shuffle(pool)
        quotas = _quotas(count)
        asked: set[int] = set()
        texts: set[str] = set()
        picked: list[_Seed] = []

        def take(category: str, limit: int) -> int:
            pool, taken = pools[category], 0
            for fresh in (True, False):
                for seed in list(pool):
                    if taken == limit:
                        return taken
                    if seed.text in texts or (fresh and any(id(e) in asked for e in seed.episodes)):
                        continue
                    pool.remove(seed)
                    picked.append(seed)
                    texts.add(seed.text)
                    asked.update(id(e) for e in seed.episodes)
                    taken += 1
            return taken

        short = sum(quota - take(category, quota) for category, quota in quotas.items())
        while short > 0:  # categories short of candidates: the others make up, in turn
            progress = 0
            for category in CATEGORIES:
                if short > 0 and take(category, 1):
                    short, progress = short - 1, progress + 1
            if not progress:
                break
        if len(picked) < count:
            raise ValueError(
                f"this conversation yields only {len(picked)} questions, not {count}: "
                "ask for fewer questions or more sessions"
            )
        picked = picked[:count]
        rng.shuffle(picked)
        return [
            Question(f"q{i + 1:04d}", seed.text, seed.asked_at, seed.evidence, seed.category)
            for i, seed in enumerate(picked)
        ]


# -- dates, summaries, shares ----------------------------------------------------------

_FAMILIES = ("day", "week", "date", "part", "month")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_WEEKDAYS = (
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
)  # fmt: skip
_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _next_month(day: date) -> date:
    """The first day of the month after ``day``'s."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _latest_with_day(today: date, n: int) -> date | None:
    """The last date before ``today`` whose day of the month is ``n``."""
    first = today.replace(day=1)
    for _ in range(3):
        if n <= ((_next_month(first) - first).days) and first.replace(day=n) < today:
            return first.replace(day=n)
        first = (first - timedelta(days=1)).replace(day=1)
    return None


def _time_phrases(day: date, today: date) -> list[tuple[str, str, date, date]]:
    """Ways to name ``day`` when asking on ``today``: (family, phrase, window start, end).

    A phrase names the most recent match before ``today`` ("on the 14th" is the last
    14th, "in March" the last March); its window is every day it could mean.
    """
    one, week = timedelta(days=1), timedelta(days=7)
    delta = (today - day).days
    if not 1 <= delta < 330:
        return []
    out = []
    if delta == 1:
        out.append(("day", "yesterday", day, day + one))
    elif delta <= 6:
        out.append(("day", f"{_NUMBERS[delta]} days ago", day, day + one))
    if delta == ((today.weekday() - day.weekday()) % 7 or 7):
        out.append(("day", f"last {_WEEKDAYS[day.weekday()]}", day, day + one))
    monday = today - timedelta(days=today.weekday())
    weeks = ((monday - day).days + 6) // 7  # 1: last week (Monday to Sunday), 2: the one before
    if 1 <= weeks <= 8 and day < monday:
        start = monday - weeks * week
        phrase = "last week" if weeks == 1 else f"{_NUMBERS[weeks]} weeks ago"
        out.append(("week", phrase, start, start + week))
    if monday - 2 * one <= day < monday:
        out.append(("week", "last weekend", monday - 2 * one, monday))
    month = _MONTHS[day.month - 1]
    out.append(("date", f"on {month} {_ordinal(day.day)}", day, day + one))
    if _latest_with_day(today, day.day) == day:
        out.append(("date", f"on the {_ordinal(day.day)}", day, day + one))
    if day.year == (today.year if day.month <= today.month else today.year - 1):
        first, after = day.replace(day=1), _next_month(day)
        if day.day <= 10:
            out.append(("part", f"in early {month}", first, first + 10 * one))
        elif day.day <= 20:
            out.append(("part", f"in mid-{month}", first + 10 * one, first + 20 * one))
        else:
            late = "in late" if day.day % 2 else "at the end of"
            out.append(("part", f"{late} {month}", first + 20 * one, after))
        out.append(("month", f"in {month}", first, after))
        months = (today.year - day.year) * 12 + today.month - day.month
        if 1 <= months <= 3:
            phrase = "last month" if months == 1 else f"{_NUMBERS[months]} months ago"
            out.append(("month", phrase, first, after))
    return out


def _summarise(rng: random.Random, phrases: list[str]) -> str:
    """A session summary from its topics' phrases, as a summariser might put it."""
    if not phrases:
        return "The user chatted briefly with the assistant about their day."
    head, rest = phrases[:3], phrases[3:5]
    if len(head) == 1:
        body = head[0]
    elif len(head) == 2:
        body = f"{head[0]} and {head[1]}"
    else:
        body = f"{head[0]}, {head[1]}, and {head[2]}"
    text = f"{rng.choice(_OPENERS)} {body}."
    if rest:
        text += f" They also {' and '.join(rest)}."
    return text


def _quotas(count: int) -> dict[str, int]:
    """``count`` split over the categories by their shares (largest remainders)."""
    exact = [share * count for share in _SHARES]
    quotas = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: quotas[i] - exact[i])
    for i in by_remainder[: count - sum(quotas)]:
        quotas[i] += 1
    return dict(zip(CATEGORIES, quotas, strict=True))


def generate(
    *, sessions: int, turns_per_session: int, questions: int, seed: int = 7
) -> ConversationSet:
    """A conversation of ``sessions`` sessions of ``turns_per_session`` turns, and questions.

    The same arguments give the same set. Raises `ValueError` for fewer than 8
    sessions or 12 turns per session, or when the conversation cannot yield
    ``questions`` distinct questions.
    """
    if sessions < 8 or turns_per_session < 12 or questions < 1:
        raise ValueError("need at least 8 sessions, 12 turns per session and 1 question")
    builder = _Builder(random.Random(seed), sessions, turns_per_session)
    builder.events()
    builder.place()
    turns, summaries = builder.layout()
    return ConversationSet(turns, summaries, builder.questions(questions))


# -- statistics ------------------------------------------------------------------------

_STOP_TEXT = """
a an and are as at be but by did do does for from had has have he her his i if in into is it
its me my not of on or our she so than that the their them then there these they this to was
we were what when where which who whom why will with you your how i'm i've it's about after
all am any been can could get got just like more most much now over really some still too up
very
"""
_STOP = frozenset(_STOP_TEXT.split())  # for the shared-words statistic only


def _words(text: str) -> set[str]:
    """Lower-cased content words, for a rough measure of shared wording."""
    return {w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in _STOP}


def describe(conversations: ConversationSet) -> str:
    """The set's statistics as text: sizes, words per turn, questions per category."""
    turns = conversations.turns
    by_key = {turn.key: turn for turn in turns}
    lines = [
        f"sessions {len(conversations.summaries)}, turns {len(turns)}, "
        f"from {turns[0].time:%Y-%m-%d} to {turns[-1].time:%Y-%m-%d}",
    ]
    for role in ("user", "assistant"):
        counts = sorted(len(t.text.split()) for t in turns if t.role == role)
        lines.append(
            f"{role} turns {len(counts)}: words mean {sum(counts) / len(counts):.1f}, "
            f"median {counts[len(counts) // 2]}, max {counts[-1]}"
        )
    summary_words = [len(s.text.split()) for s in conversations.summaries]
    lines.append(f"summary words mean {sum(summary_words) / len(summary_words):.1f}")
    lines.append(f"questions {len(conversations.questions)}:")
    lines.append(
        f"  {'category':<17} {'n':>4} {'evidence':>9} {'sessions':>9} {'assistant':>9} "
        f"{'shared words':>13}"
    )
    for category in CATEGORIES:
        qs = [q for q in conversations.questions if q.category == category]
        if not qs:
            continue
        evidence = sum(len(q.evidence) for q in qs) / len(qs)
        sessions = sum(len({by_key[k].session for k in q.evidence}) for q in qs) / len(qs)
        assistant = sum(any(by_key[k].role == "assistant" for k in q.evidence) for q in qs)
        shared = sum(
            max(len(_words(q.text) & _words(by_key[k].text)) for k in q.evidence) for q in qs
        ) / len(qs)
        lines.append(
            f"  {category:<17} {len(qs):>4} {evidence:>9.2f} {sessions:>9.2f} "
            f"{assistant:>9} {shared:>13.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse
    import time as clock

    parser = argparse.ArgumentParser(description="Statistics of a generated conversation set.")
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--turns-per-session", type=int, default=24)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=0, help="print this many questions")
    args = parser.parse_args()
    started = clock.perf_counter()
    made = generate(
        sessions=args.sessions,
        turns_per_session=args.turns_per_session,
        questions=args.questions,
        seed=args.seed,
    )
    print(f"generated in {clock.perf_counter() - started:.3f} s")
    print(describe(made))
    try:
        from nucleusmem.recall._policy import IndexPolicy
    except ImportError:
        pass
    else:
        policy = IndexPolicy()
        skipped = Counter(policy.skip_reason(t.text) for t in made.turns)
        evidence = {k for q in made.questions for k in q.evidence}
        bad = [t.key for t in made.turns if t.key in evidence and policy.skip_reason(t.text)]
        print(f"index policy: {dict(skipped)}; evidence turns skipped: {len(bad)}")
    turns_by_key = {t.key: t for t in made.turns}
    for q in made.questions[: args.show]:
        print(f"\n[{q.category}] {q.text}  (asked {q.asked_at:%a %Y-%m-%d})")
        for key in sorted(q.evidence):
            t = turns_by_key[key]
            print(f"   {key} {t.time:%a %Y-%m-%d} {t.role}: {t.text[:150]}")
