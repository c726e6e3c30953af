"""Which stated wishes of the current request a pick meets, as :class:`~agent.reasons.facts.Fact`.

The wishes are those the rules read as hard constraints (:class:`agent.understanding.profile.Constraints`:
people, length, certificate, Oscars, period, genres, language, country, excluded genres), the
genres a mood word asks for, and the request's theme words (content words the rules left
unread) found in the pick's keywords or overview. Each fact is checked against the pick's own
facts here: a wish the pick does not provably meet gives no fact.

Invariants: every number in a fact is the pick's own value or a bound the person gave; a theme
fact quotes a keyword or an overview word verbatim (from the instruction-free text); facts come
strongest first (:data:`ORDER`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from agent.reasons.facts import Fact
from agent.understanding.facets import country_phrase
from agent.understanding.profile import Constraints
from retrieval.items import Item
from retrieval.titles import normalise_title
from retrieval.untrusted import strip_instructions

#: wish keys, strongest first (a reason names the first ones)
ORDER = ("cast", "director", "writer", "theme", "acclaim", "runtime", "oscars", "nominations", "certificate",
         "language", "country", "genre", "mood", "period", "not_genre")
GENRE_NOUNS = {"Comedy": "comedy", "Drama": "drama", "Thriller": "thriller", "Western": "western", "Musical": "musical",
               "Mystery": "mystery", "Romance": "romance", "Documentary": "documentary", "Film-Noir": "film noir",
               "Animation": "animated film", "Children's": "children's film"}
#: genres said as an adjective before another genre ("a romantic comedy", not "a comedy romance")
GENRE_ADJECTIVES = {"Romance": "romantic", "Animation": "animated"}
_STOP = frozenset("""a an the and or but nor of with without in on at to for from by about into over under after before
than then that this these those it its is are was were be been being am i me my we us our you your he she they them
their his her something anything some any one ones film films movie movies flick flicks picture pictures show shows
watch watching see seen want wanted would like likes love loves liked really very quite just please tonight today
good great best nice fun kind sort type thing things made make makes making get got give gives new old more most
less least much many lot lots all every each other another such also not no nothing none never ever only even so too
minute minutes hour hours long short length running runtime rated rating certificate oscar oscars winner won award
awards nominated nomination nominations year years decade century early late mid era era's through between around
recommend recommendation suggest suggestions what which who whom whose how when where why can could should will
shall may might must let lets need needs have has had do does did done going go gonna wanna feel feeling mood me
set sets starring stars star directed director written writer cast actor actress kids kid children child family
my mine wife husband girlfriend boyfriend friend friends date night evening weekend someone people person time""".split())
_WORD = re.compile(r"[a-z][a-z'’-]{3,}")


def stem(word: str) -> str:
    """A crude stem for matching request words with overview words ("heists" ~ "heist")."""
    w = word.lower().strip("'’-")
    for suffix, repl in (("ies", "y"), ("ings", ""), ("ing", ""), ("es", ""), ("ed", ""), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            return w[: -len(suffix)] + repl
    return w


def theme_words(message: str, constraints: Constraints, genres: Iterable[str] = (), titles: Iterable[str] = ()) -> list[str]:
    """Content words of ``message`` that name a theme (not a stop word, a genre, a person the
    constraints name, a number, a word of a referenced title, or a fact or mood phrase the rules
    read: "French", "critics", "hidden gem", "a good cry"), in message order, unique."""
    from agent.understanding.facets import read_facets
    from agent.understanding.moods import read_moods
    from agent.understanding.negation import negation_scopes
    from agent.understanding.text import lower_same_length, mask_spans

    low = lower_same_length(message)
    message = mask_spans(low, read_facets(low).spans)
    message = mask_spans(message, [span for _, span in read_moods(message, negation_scopes(message))])
    named = [*genres, *constraints.genres, *constraints.genres_any, *constraints.exclude_genres]
    skip = {stem(w) for g in named for w in re.findall(r"[a-z]+", g.lower())}
    for value in constraints.fields.values():
        skip |= {stem(w) for w in re.findall(r"[a-z]+", str(value).lower())}
    for title in titles:
        skip |= {stem(w) for w in re.findall(r"[a-z0-9]+", normalise_title(title))}
    out: list[str] = []
    for word in _WORD.findall(message.lower()):
        word = word.strip("'’-")
        if word in _STOP or stem(word) in skip or stem(word) in {stem(o) for o in out}:
            continue
        out.append(word)
    return out


def states_wish(constraints: Constraints, wished: Sequence[str] = (), themes: Sequence[str] = ()) -> bool:
    """True when the request states any wish a reason could name."""
    c = constraints
    return bool(not c.is_empty() or wished or themes)


def genre_noun(genres: Sequence[str]) -> str:
    """"a crime thriller", "an animated film", "a comedy" for the given genres (first ones lead)."""
    if not genres:
        return "a film"
    adjectives = [g for g in genres if g in GENRE_ADJECTIVES]  # "a romantic comedy", "an animated children's film"
    rest = [g for g in genres if g not in GENRE_ADJECTIVES] or [adjectives.pop()]
    words = ([GENRE_ADJECTIVES[g] for g in adjectives] + [g.lower() for g in rest[:-1]]
             + [GENRE_NOUNS.get(rest[-1], f"{rest[-1].lower()} film")])
    phrase = " ".join(words)
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def met_wishes(item: Item, constraints: Constraints, wished: Sequence[str] = (), message: str = "",
               themes: Sequence[str] = (), moods: Sequence[tuple[str, str, Sequence[str]]] = ()) -> list[Fact]:
    """Facts for every stated wish ``item`` provably meets, in :data:`ORDER`. ``moods``: per mood
    asked, its name, how a pick serves it and the genres it leans towards
    (:attr:`agent.understanding.moods.MoodReading.fits`): a pick of such a genre gets the fact
    "it is a romantic drama, for the good cry you want" (key ``mood``) when no asked genre was named
    already."""
    c = constraints
    numbers = {int(n) for n in re.findall(r"\d+", message)}
    facts: list[Fact] = []
    for key in ("cast", "director", "writer", "language", "country"):
        if key in c.fields:
            fact = _field_fact(item, key, c.fields[key])
            if fact:
                facts.append(fact)
    theme = _theme_fact(item, themes)
    if theme:
        facts.append(theme)
    if "runtime_min" in c.ranges:
        fact = _runtime_fact(item, *c.ranges["runtime_min"], numbers=numbers)
        if fact:
            facts.append(fact)
    for key, name in (("oscars_won", "oscars"), ("oscar_nominations", "nominations")):
        if key in c.ranges:
            fact = _oscar_fact(item, name, *c.ranges[key])
            if fact:
                facts.append(fact)
    if "certificate" in c.one_of:
        fact = _certificate_fact(item, c.one_of["certificate"])
        if fact:
            facts.append(fact)
    language = item.extra.get("primary_language")
    if isinstance(language, str) and language in c.one_of.get("primary_language", ()):
        facts.append(Fact("request", f"it is in {language}, as you asked", "language", f"a film in {language}",
                          f"it is in {language}"))
    elif isinstance(language, str) and "primary_language" in c.none_of and language not in c.none_of["primary_language"]:
        facts.append(Fact("request", f"it is in {language}, not English, as you asked", "language",
                          "a film not in English", f"it is in {language}"))
    if c.acclaim:
        fact = _acclaim_fact(item, c.acclaim)
        if fact:
            facts.append(fact)
    asked = [g for g in item.genres if g in set(c.genres) | set(c.genres_any) | set(wished)]
    if asked:
        noun = genre_noun(asked)
        # the year only when the person asked for a period ("a 1997 comedy, as you asked" claimed a wish)
        period = c.year_min is not None or c.year_max is not None
        dated = f"a {item.year} {noun.split(' ', 1)[1]}" if item.year is not None and period else noun
        facts.append(Fact("request", f"it is {noun}, as you asked", "genre", noun, f"it is {dated}"))
    else:
        mood = next(((name, fit, [g for g in item.genres if g in leans]) for name, fit, leans in moods
                     if set(leans) & set(item.genres)), None)
        if mood is not None:
            noun = genre_noun(mood[2])
            facts.append(Fact("request", f"it is {noun}, {mood[1]}", "mood", mood[0], f"it is {noun}"))
    if item.year is not None and (c.year_min is not None or c.year_max is not None):
        facts.append(_period_fact(item.year, c.year_min, c.year_max))
    if c.exclude_genres and not set(c.exclude_genres) & set(item.genres) and not facts:
        no = " or ".join(g.lower() for g in c.exclude_genres)  # the genre's own name: a checkable claim
        facts.append(Fact("request", f"it is no {no} film, as you asked", "not_genre", f"no {no} film",
                          f"it is no {no} film"))
    return sorted(facts, key=lambda f: ORDER.index(f.key))


def _names(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)] if isinstance(value, str) and value.strip() else []


def _field_fact(item: Item, key: str, wanted: Any) -> Fact | None:
    names = _names(item.extra.get(key))
    norm = [normalise_title(n) for n in names]
    if key == "cast" and len(_names(wanted)) > 1:  # "De Niro and Pacino in the same movie": all of them
        found = [names[norm.index(normalise_title(w))] for w in _names(wanted) if normalise_title(w) in norm]
        if len(found) == len(_names(wanted)):
            together = " and ".join(found)
            return Fact("request", f"{together} are both in the cast, as you asked", "cast", together,
                        f"{together} are in the cast")
        return None
    for want in _names(wanted):
        if normalise_title(want) not in norm:
            continue
        name = names[norm.index(normalise_title(want))]
        if key == "cast":
            lead = norm.index(normalise_title(want)) < 2
            proof = f"{name} has the lead" if lead else f"{name} is in the cast"
            return Fact("request", f"{proof}, as you asked", "cast", name, proof)
        if key == "director":
            return Fact("request", f"it is directed by {name}, as you asked", key, f"a film by {name}",
                        f"{name} directed it")
        if key == "writer":
            return Fact("request", f"it is written by {name}, as you asked", key, f"a script by {name}",
                        f"{name} wrote it")
        if key == "language":
            return Fact("request", f"it is in {name}, as you asked", key, f"a film in {name}", f"it is in {name}")
        place = country_phrase(name)
        return Fact("request", f"it is from {place}, as you asked", key, f"a film from {place}", f"it is from {place}")
    return None


def _acclaim_fact(item: Item, rule: str) -> Fact | None:
    """The critics' or IMDb figure behind an acclaim wish (the catalog's rating counts are cited
    by the rating fact of :mod:`agent.reasons.evidence`)."""
    metacritic, rt, imdb = (item.extra.get(k) for k in ("metacritic", "rt_meter", "imdb_rating"))
    if rule == "critics":
        if isinstance(metacritic, int) and metacritic >= 75:
            proof = f"critics gave it {metacritic}/100 on Metacritic"
        elif isinstance(rt, int) and rt >= 90:
            proof = f"its Rotten Tomatoes meter is {rt}%"
        else:
            return None
        return Fact("request", f"{proof}, as you asked for a film the critics loved", "acclaim",
                    "a film the critics loved", proof)
    if isinstance(imdb, (int, float)) and imdb >= (8.0 if rule == "top_rated" else 7.5):
        proof = f"it is rated {imdb}/10 on IMDb"
    elif isinstance(metacritic, int) and metacritic >= 70:
        proof = f"critics gave it {metacritic}/100 on Metacritic"
    else:
        return None
    ask = "one of the best rated films" if rule == "top_rated" else "a little-known film that is good"
    return Fact("request", f"{proof}, and you asked for {ask}", "acclaim", ask, proof)


_HOURS = {60: "an hour", 90: "an hour and a half", 120: "two hours", 150: "two and a half hours",
          180: "three hours"}


def _runtime_fact(item: Item, low: int | None, high: int | None, numbers: set[int]) -> Fact | None:
    minutes = item.extra.get("runtime_min")
    if not isinstance(minutes, int) or (low is not None and minutes < low) or (high is not None and minutes > high):
        return None
    proof = f"it runs {minutes} minutes"
    if low is None and high is not None:
        ask = f"under {high + 1} minutes" if high + 1 in numbers else \
            f"at most {high} minutes" if high in numbers else \
            f"under {_HOURS[high + 1]}" if high + 1 in _HOURS else "a short film" if high == 95 else \
            f"at most {high} minutes"
    elif high is None and low is not None:
        ask = f"over {low - 1} minutes" if low - 1 in numbers else \
            f"at least {low} minutes" if low in numbers else "a long film"
    else:
        mid = (low + high) // 2 if low is not None and high is not None else None
        ask = f"about {mid} minutes" if mid in numbers else f"{low} to {high} minutes"
    return Fact("request", f"{proof}, and you asked for {ask}", "runtime", ask, proof)


def _oscar_fact(item: Item, name: str, low: int | None, high: int | None) -> Fact | None:
    field = "oscars_won" if name == "oscars" else "oscar_nominations"
    count = item.extra.get(field)
    if not isinstance(count, int) or (low is not None and count < low) or (high is not None and count > high):
        return None
    plural = "" if count == 1 else "s"
    if name == "oscars":
        if count == 0:
            return Fact("request", "it won no Oscar, as you asked", name, "a film without an Oscar", "it won no Oscar")
        ask = "an Oscar winner" if (low or 0) <= 1 else f"at least {low} Oscars"
        won = "one Oscar" if count == 1 else f"{count} Oscars"
        return Fact("request", f"it won {won}, as you asked", name, ask, f"it won {won}")
    ask = "an Oscar-nominated film" if (low or 0) <= 1 else f"at least {low} Oscar nominations"
    return Fact("request", f"it was nominated for {count} Oscar{plural}, as you asked", name, ask,
                f"it was nominated for {count} Oscar{plural}")


def _certificate_fact(item: Item, allowed: Sequence[str]) -> Fact | None:
    cert = item.extra.get("certificate")
    if not isinstance(cert, str) or cert not in allowed:
        return None
    allowed = list(allowed)
    ask = f"a {allowed[0]} film" if len(allowed) == 1 and allowed[0] != "G" else \
        "nothing rated R" if "PG-13" in allowed and "G" in allowed and "R" not in allowed else \
        "nothing above PG" if "PG" in allowed and "PG-13" not in allowed and "R" not in allowed else \
        "a G-rated film" if allowed == ["G"] else f"a film rated {' or '.join(allowed[:3])}"
    return Fact("request", f"it is rated {cert}, and you asked for {ask}", "certificate", ask, f"it is rated {cert}")


def _decade_word(decade: int) -> str:
    return f"{decade % 100:02d}s" if 1930 <= decade < 2000 else f"{decade}s"


def _period_fact(year: int, low: int | None, high: int | None) -> Fact:
    proof = f"it is from {year}"
    if low is not None and high is not None and low % 10 == 0 and high == low + 9:
        ask = f"the {_decade_word(low)}"
    elif low is not None and high is not None:
        ask = f"{low} to {high}"
    elif high is not None:
        ask = f"nothing after {high}"
    else:
        ask = f"nothing before {low}"
    return Fact("request", f"{proof}, and you asked for {ask}", "period", ask, proof)


def _theme_fact(item: Item, themes: Sequence[str]) -> Fact | None:
    """The request's theme words found in the pick's keywords (quoted), else in its overview."""
    if not themes:
        return None
    stems = {stem(t): t for t in themes}
    keywords = [strip_instructions(str(k)) for k in _names(item.extra.get("keywords"))]
    hits = [k for k in keywords if k and any(stem(w) in stems for w in re.findall(r"[a-z]+", k.lower()))]
    if hits:
        quoted = " and ".join(f'"{k}"' for k in hits[:2])
        asked = [stems[stem(w)] for k in hits[:2] for w in re.findall(r"[a-z]+", k.lower()) if stem(w) in stems]
        ask = " and ".join(f'"{a}"' for a in dict.fromkeys(asked))
        return Fact("request", f"its keywords include {quoted}", "theme", ask, f"its keywords include {quoted}")
    overview = strip_instructions(str(item.extra.get("overview") or item.text or ""))
    words = [w for w in re.findall(r"[A-Za-z][a-z'’-]{3,}", overview) if stem(w) in stems]
    if words:
        found = list(dict.fromkeys(words))[:2]
        asked = list(dict.fromkeys(stems[stem(w)] for w in found))
        quoted = " and ".join(f'"{w}"' for w in found)
        return Fact("request", f"its overview mentions {quoted}", "theme", " and ".join(f'"{a}"' for a in asked),
                    f"its overview mentions {quoted}")
    return None
