"""The words the rules know: user words for catalog genres, words naming two genres, mood words
that stay soft wishes, words for kinds of film the catalog has no genre for, and the regex over them."""

from __future__ import annotations

import re

# user words -> catalog genre names (only those present in the catalog are used); plurals in -s /
# -es are matched too ("romances", "westerns")
GENRE_WORDS: dict[str, str] = {
    "action": "Action", "adventure": "Adventure", "adventures": "Adventure", "animation": "Animation",
    "animated": "Animation", "cartoon": "Animation", "cartoons": "Animation", "anime": "Animation",
    "claymation": "Animation", "stop-motion": "Animation",
    "children": "Children's", "children's": "Children's", "kids": "Children's", "family": "Children's",
    "comedy": "Comedy", "comedies": "Comedy", "funny": "Comedy", "feel-good": "Comedy", "feel good": "Comedy",
    "crime": "Crime", "gangster": "Crime",
    "documentary": "Documentary", "documentaries": "Documentary", "drama": "Drama", "dramas": "Drama",
    "fantasy": "Fantasy", "fantasies": "Fantasy", "film-noir": "Film-Noir", "noir": "Film-Noir",
    "horror": "Horror", "scary": "Horror", "slasher": "Horror",
    "musical": "Musical", "musicals": "Musical", "mystery": "Mystery", "mysteries": "Mystery",
    "whodunit": "Mystery", "whodunnit": "Mystery", "romance": "Romance", "romantic": "Romance", "romcom": "Romance",
    "sci-fi": "Sci-Fi", "scifi": "Sci-Fi", "sci fi": "Sci-Fi", "science fiction": "Sci-Fi", "science-fiction": "Sci-Fi",
    "thriller": "Thriller", "thrillers": "Thriller", "war": "War", "western": "Western", "westerns": "Western",
    "cowboy": "Western", "cowboys": "Western",
}
# Words that name two genres at once ("a rom-com" = Comedy AND Romance).
COMPOUND_GENRE_WORDS: dict[str, tuple[str, ...]] = {
    "rom-com": ("Comedy", "Romance"), "romcom": ("Comedy", "Romance"), "rom com": ("Comedy", "Romance"),
    "dramedy": ("Comedy", "Drama"),
}
# Mood words that hint at a genre: as a wish they stay soft (query text, liked attributes), so
# "a funny animated movie for kids" does not demand Comedy AND Animation AND Children's; negated
# ("nothing scary") they still exclude the genre. "romantic" right before a genre noun ("a
# romantic comedy", "romantic dramas") names the Romance genre and is hard.
SOFT_GENRE_WORDS = frozenset({"funny", "scary", "romantic", "family", "feel-good", "feel good"})
# Words for one kind of film within a genre: negated ("a scary movie that isn't a slasher") they
# exclude the genre only when nothing else in the message asks for it.
NARROW_GENRE_WORDS = frozenset({"slasher", "gangster", "whodunit", "whodunnit", "cartoon", "anime", "claymation",
                                "stop-motion", "cowboy"})
# Words for a kind of film the catalog has no genre for: the genres such films carry, added to the
# retrieval focus as text (never a filter), so "clever heist movies" finds crime thrillers even
# when no item text says "heist" (MovieLens items have no plots). The words stay unread, so the
# text still leads the ranking (agent.ranking.fusion.TEXT_LED_WEIGHT).
KIND_HINTS: dict[str, tuple[str, ...]] = {
    "heist": ("Crime", "Thriller"), "robbery": ("Crime", "Thriller"),
    "twist": ("Thriller", "Mystery"), "spy": ("Action", "Thriller"), "espionage": ("Action", "Thriller"),
    "detective": ("Crime", "Mystery"), "murder": ("Crime", "Thriller"), "killer": ("Crime", "Thriller"),
    "mafia": ("Crime", "Drama"), "mob": ("Crime", "Drama"), "cop": ("Action", "Crime"), "police": ("Action", "Crime"),
    "zombie": ("Horror",), "vampire": ("Horror",), "ghost": ("Horror",), "monster": ("Horror", "Sci-Fi"),
    "superhero": ("Action", "Adventure"), "space": ("Sci-Fi",), "alien": ("Sci-Fi",), "robot": ("Sci-Fi",),
    "dinosaur": ("Adventure", "Sci-Fi"), "pirate": ("Adventure",), "knight": ("Adventure", "Fantasy"),
    "dragon": ("Fantasy",), "wizard": ("Fantasy",), "boxer": ("Drama",), "boxing": ("Drama",),
    "courtroom": ("Drama",), "prison": ("Crime", "Drama"), "disaster": ("Action", "Thriller"),
}


ALL_GENRE_WORDS = sorted(set(GENRE_WORDS) | set(COMPOUND_GENRE_WORDS), key=len, reverse=True)
GENRE_RE = re.compile(r"(?<![\w'])(?:" + "|".join(re.escape(w) for w in ALL_GENRE_WORDS) + r")(?:e?s)?(?![\w])")
