"""Catalog titles as people say and compare them.

MovieLens-style titles put a leading article last and end with the year ("Matrix, The (1999)"); some
carry alternative titles in parentheses ("Seven (a.k.a. Se7en) (1995)"). These functions are the one
place that knows the layout: the agent's language understanding, its explanations and the tools'
title lookups all use them.
"""

from __future__ import annotations

import re

#: A trailing release year (or year range) in parentheses: ``" (1995)"``, ``" (2004-2006)"``.
YEAR_SUFFIX = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
_ALT_TITLE = re.compile(r"\((?:a\.k\.a\.|aka)?\s*([^()]+)\)")
_ARTICLE_SUFFIX = re.compile(
    r"^(?P<body>.*), (?P<article>the|a|an|les|la|le|il|el|die|der|das|l')$", re.IGNORECASE
)
_NON_WORD = re.compile(r"[^\w]+")


def normalise_title(title: str) -> str:
    """A comparable form of a title: no year suffix, leading article restored, lower case, no punctuation.

    ``"Matrix, The (1999)"`` and ``"the matrix"`` both become ``"the matrix"``.
    """
    body = YEAR_SUFFIX.sub("", title.strip())
    return _NON_WORD.sub(" ", _restore_article(body).lower()).strip()


def title_forms(title: str) -> tuple[str, list[str], str]:
    """A catalog title's main form, alternative titles and franchise prefix.

    ``"Seven (a.k.a. Se7en) (1995)"`` -> ``("Seven", ["Se7en"], "")``;
    ``"Lord of the Rings: The Two Towers, The (2002)"`` -> main with the article restored, prefix
    ``"Lord of the Rings"``.
    """
    body = YEAR_SUFFIX.sub("", title.strip())
    alternatives = [alt.strip() for alt in _ALT_TITLE.findall(body)]
    main = _ALT_TITLE.sub("", body).strip()
    alternatives = [_restore_article(alt) for alt in alternatives if alt]
    main = _restore_article(main)
    prefix = ""
    for separator in (":", " - "):
        if separator in main:
            prefix = main.split(separator, 1)[0].strip()
            break
    return main, alternatives, prefix


def pretty_title(title: str) -> str:
    """A catalog title as people write it: ``"Matrix, The (1999)"`` -> ``"The Matrix (1999)"``."""
    year = YEAR_SUFFIX.search(title.strip())
    main = title_forms(title)[0] or title
    return f"{main} ({year.group(1)})" if year else main


def _restore_article(text: str) -> str:
    moved = _ARTICLE_SUFFIX.match(text)
    return f"{moved.group('article')} {moved.group('body')}" if moved else text
