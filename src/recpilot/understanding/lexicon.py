"""The curated part of the catalog vocabulary: the words people use for genres and moods.

Everything here is English-first data (with a few common foreign genre words); the vocabulary keeps an
entry only when the catalog has its value. Text normalisation lives here too, so phrases, titles and
the words of a request are keyed the same way.
"""

from __future__ import annotations

import re
import unicodedata


def word_set(text: str) -> frozenset[str]:
    """The words of a space-separated list (word lists stay readable as one string)."""
    return frozenset(text.split())


def phrases(text: str) -> tuple[str, ...]:
    """The phrases of a ``|``-separated list: ``"sci fi | science fiction"``."""
    return tuple(p.strip() for p in text.split("|") if p.strip())


def normalise_text(text: str) -> str:
    """Lower case, accents stripped, apostrophes dropped, ``&`` as ``and``: the form phrases are keyed by."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return plain.replace("’", "'").replace("'", "").replace("&", " and ")


def phrase_key(text: str) -> str:
    """The lookup key of a phrase or title: normalised words joined by single spaces."""
    return " ".join(re.findall(r"[^\W_]+", normalise_text(text)))


#: Canonical genre -> the words people use for it (English first, a few common foreign words).
GENRE_WORDS: dict[str, tuple[str, ...]] = {
    "Action": phrases("action | action packed | shoot em up | explosions | accion"),
    "Adventure": phrases("adventure | adventures | adventurous | aventura | aventure | abenteuer"),
    "Animation": phrases(
        "animation | animations | animated | cartoon | cartoons | animacion | dibujos animados | "
        "dessin anime | zeichentrick | trickfilm"
    ),
    "Children": phrases(
        "children | childrens | kids | kid | family | families | family friendly | kid friendly | child | "
        "toddler | toddlers | year old | years old | infantil | ninos | enfants | kinder"
    ),
    "Comedy": phrases(
        "comedy | comedies | comedic | funny | funnier | funniest | hilarious | humor | humour | humorous | "
        "laugh | laughs | comedia | comedie | komodie | commedia | slapstick"
    ),
    "Crime": phrases("crime | crimes | criminal | gangster | gangsters | mobster | mobsters"),
    "Documentary": phrases(
        "documentary | documentaries | doc | docs | docu | docuseries | non fiction | nonfiction | "
        "documental | documentaire | dokumentarfilm"
    ),
    "Drama": phrases("drama | dramas | dramatic | drame | dramma"),
    "Fantasy": phrases(
        "fantasy | fantasies | fantastical | fairy tale | fairy tales | fairytale | sword and sorcery"
    ),
    "Film-Noir": phrases("noir | noirs | film noir | films noir"),
    "Horror": phrases(
        "horror | horrors | scary | scarier | scariest | scare | scares | frightening | terrifying | "
        "spooky | creepy | slasher | slashers | gore | gory | terror | horreur"
    ),
    "IMAX": phrases("imax"),
    "Musical": phrases("musical | musicals | song and dance | comedie musicale"),
    "Mystery": phrases("mystery | mysteries | whodunit | whodunnit | whodunits | misterio"),
    "Romance": phrases(
        "romance | romances | romantic | love story | love stories | chick flick | romantica | romantique | "
        "romantisch"
    ),
    "Sci-Fi": phrases("sci fi | scifi | sci fis | science fiction | futuristic | ciencia ficcion"),
    "Thriller": phrases(
        "thriller | thrillers | suspense | suspenseful | edge of my seat | edge of your seat"
    ),
    "War": phrases("war | war movie | war movies | wartime | guerra | krieg"),
    "Western": phrases("western | westerns | cowboy | cowboys | wild west"),
}

#: Phrases that mean several genres at once and/or a topic: phrase -> (genres required together, topic).
COMPOUNDS: dict[str, tuple[tuple[str, ...], str]] = {
    "romcom": (("Romance", "Comedy"), ""),
    "romcoms": (("Romance", "Comedy"), ""),
    "rom com": (("Romance", "Comedy"), ""),
    "rom coms": (("Romance", "Comedy"), ""),
    "romantic comedy": (("Romance", "Comedy"), ""),
    "romantic comedies": (("Romance", "Comedy"), ""),
    "dark comedy": (("Comedy",), "dark comedy black comedy"),
    "dark comedies": (("Comedy",), "dark comedy black comedy"),
    "black comedy": (("Comedy",), "dark comedy black comedy"),
    "space opera": (("Sci-Fi",), "space opera space"),
    "cyberpunk": (("Sci-Fi",), "cyberpunk"),
    "pixar": (("Animation",), "pixar"),
    "anime": (("Animation",), "anime"),
    "zombie": (("Horror",), "zombies zombie"),
    "zombies": (("Horror",), "zombies zombie"),
    "heist": (("Crime",), "heist robbery"),
    "heists": (("Crime",), "heist robbery"),
    "mafia": (("Crime",), "mafia mob gangster"),
    "mob": (("Crime",), "mafia mob gangster"),
    "world war ii": (("War",), "world war ii"),
    "world war 2": (("War",), "world war ii"),
    "ww2": (("War",), "world war ii"),
    "wwii": (("War",), "world war ii"),
    "spaghetti western": (("Western",), "spaghetti western"),
}

#: Moods and topics only text similarity can serve: phrase -> ``|``-separated phrases catalogs use for it.
TOPICS: dict[str, str] = {
    "uplifting": "uplifting | feel good | heartwarming | inspirational | inspiring",
    "feel good": "uplifting | feel good | heartwarming | inspirational",
    "feelgood": "uplifting | feel good | heartwarming | inspirational",
    "heartwarming": "heartwarming | feel good | touching",
    "heart warming": "heartwarming | feel good | touching",
    "wholesome": "heartwarming | feel good | family",
    "inspiring": "inspiring | inspirational | uplifting",
    "inspirational": "inspiring | inspirational | uplifting",
    "sad": "sad | emotional | tearjerker | touching | bittersweet",
    "tearjerker": "sad | emotional | tearjerker | touching",
    "tear jerker": "sad | emotional | tearjerker | touching",
    "emotional": "emotional | touching | sad",
    "bittersweet": "bittersweet | touching",
    "mind bending": "mindfuck | surreal | twist ending | thought provoking | cerebral",
    "mindbending": "mindfuck | surreal | twist ending | thought provoking | cerebral",
    "mind blowing": "mindfuck | surreal | twist ending | thought provoking | cerebral",
    "trippy": "surreal | hallucinatory | psychedelic | dreamlike",
    "thought provoking": "thought provoking | philosophical | intelligent | cerebral",
    "smart": "intelligent | clever | witty | thought provoking",
    "clever": "clever | intelligent | witty",
    "philosophical": "philosophical | thought provoking",
    "dark": "dark | disturbing | gritty | bleak | atmospheric",
    "gritty": "gritty | dark | violence",
    "disturbing": "disturbing | dark",
    "violent": "violent | violence | brutal | gore",
    "quirky": "quirky | offbeat | surreal",
    "weird": "weird | surreal | bizarre | quirky",
    "surreal": "surreal | dreamlike | bizarre",
    "atmospheric": "atmospheric | moody | visually appealing",
    "beautiful": "beautiful | visually appealing | cinematography",
    "visually stunning": "visually appealing | cinematography | beautiful | stylized",
    "tense": "tense | suspense | gripping",
    "gripping": "gripping | tense | suspense",
    "lighthearted": "light hearted | feel good | funny",
    "light hearted": "light hearted | feel good | funny",
    "friendship": "friendship",
    "friends": "friendship | friends",
    "twist": "twist ending | plot twist",
    "twists": "twist ending | plot twist",
    "plot twist": "twist ending | plot twist",
    "time travel": "time travel",
    "time traveling": "time travel",
    "time travelling": "time travel",
    "music": "music | musical | musician | concert | band",
    "musicians": "music | musical | musician | concert | band",
    "bands": "music | musical | band | concert | rock",
    "concert": "concert | music | band",
    "concerts": "concert | music | band",
    "aliens": "aliens | alien | extraterrestrial",
    "alien": "aliens | alien | extraterrestrial",
    "robots": "robots | robot | artificial intelligence | android",
    "artificial intelligence": "artificial intelligence | robots",
    "dinosaurs": "dinosaurs | dinosaur",
    "vampires": "vampires | vampire",
    "vampire": "vampires | vampire",
    "superhero": "superhero | comic book | superheroes",
    "superheroes": "superhero | comic book | superheroes",
    "space": "space | astronaut",
    "sports": "sports",
    "christmas": "christmas",
}
#: Words too common to help a text match on their own ("feel good" should not match "Good Time").
GENERIC_WORDS = word_set("good bad great nice best feel")

#: Emoji people use for genres.
EMOJI: dict[str, str] = {
    **dict.fromkeys("😂🤣😆😄😁", "Comedy"),
    **dict.fromkeys("😱👻💀🎃🔪🧟", "Horror"),
    **dict.fromkeys("🚀👽🤖🛸", "Sci-Fi"),
    **dict.fromkeys("❤💕😍💘💑", "Romance"),
    **dict.fromkeys("🤠", "Western"),
    **dict.fromkeys("🧙🐉🧚", "Fantasy"),
    **dict.fromkeys("🕵", "Mystery"),
    **dict.fromkeys("💥🔫", "Action"),
    **dict.fromkeys("🧸", "Children"),
    **dict.fromkeys("😢😭", "Drama"),
}

#: Tags that are words of the request language itself (or verdicts), never topics someone asks for.
NOT_TOPICS = frozenset(
    phrases(
        "old | new | classic | classics | good | bad | great | best | fun | boring | movie | film | movies | "
        "films | seen | watched | predictable | overrated | in netflix queue | long | short | remake | sequel"
    )
)
