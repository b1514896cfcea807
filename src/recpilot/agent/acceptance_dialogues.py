"""The multi-turn acceptance set: dialogues over the built-in MovieLens catalog, every turn checked.

Each turn names the dialogue act it exercises (:data:`~recpilot.understanding.acts.ACT_KINDS`) and
carries machine checks: what the reply must say, which items must or must not appear, how the
dialogue state must change (or stay the same, after a bad reference). Positions in checks refer to
the list the user was looking at before the turn. :func:`dialogue_report` runs every dialogue in a
session of its own and reports the pass rate per turn and per act.

Dialogues that write to memory use brand-new user ids; MovieLens users 1 and 414 only read.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from recpilot.agent.acceptance import NEW
from recpilot.agent.acceptance_checks import (
    AllGenres,
    Check,
    CheckContext,
    EveryGenre,
    FreshItems,
    GenreShare,
    ItemCount,
    MinItems,
    NoGenre,
    NoItems,
    NoToolErrors,
    NotReturned,
    NoWrites,
    Remembered,
    ReplyMentions,
    SeenExcluded,
    ToolCalled,
    YearRange,
)
from recpilot.agent.acceptance_dialogue_checks import (
    AvoidsGenres,
    FocusOn,
    Keeps,
    MarkedSeen,
    MentionsShown,
    Omits,
    ReplyLacks,
    StateUnchanged,
)
from recpilot.understanding.acts import ActKind

if TYPE_CHECKING:
    from recpilot.agent.agent import RecommenderAgent


@dataclass(frozen=True)
class DialogueTurnCase:
    """One user turn of a dialogue: the act it exercises, the message, the checks on the answer."""

    act: ActKind
    message: str
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class DialogueCase:
    """A dialogue: a user and turns in order."""

    id: str
    user: str
    turns: tuple[DialogueTurnCase, ...]


def _t(act: ActKind, message: str, *checks: Check) -> DialogueTurnCase:
    return DialogueTurnCase(act, message, (NoToolErrors(), *checks))


def _d(id: str, user: str | int, *turns: DialogueTurnCase) -> DialogueCase:
    return DialogueCase(id, str(user), turns)


_DARK = ("Horror", "Crime", "Thriller", "Film-Noir")
_EXPLAINED = (ReplyMentions("because"), ReplyLacks("genres:", "(asked", "ranked by collaborative"))
_ANSWER = (NoItems(), NoWrites())
_KEPT = (NoItems(), StateUnchanged())
_CLOSED = (NoItems(), ReplyLacks("Here are", "Here is"), ReplyMentions("enjoy", "bye", "welcome"))
_NOT_READ = (NoItems(), StateUnchanged(), ReplyMentions("English", "couldn't read"))
_SE7EN = "Seven (a.k.a. Se7en) (1995)"

# One dialogue per entry, laid out by hand: a table reads better than one argument per line.
# fmt: off
DIALOGUES: tuple[DialogueCase, ...] = (
    # -- questions about shown items, then more of the same list -------------------------------------------
    _d("thriller-90s-tour", 1,
       _t("request", "any good thrillers from the nineties?", MinItems(5), AllGenres("Thriller"),
          YearRange(1990, 1999)),
       _t("ask_item", "is the last one violent?", *_ANSWER, MentionsShown(-1),
          ReplyMentions("violent"), FocusOn(-1)),
       _t("ask_why", "why the third one?", *_ANSWER, MentionsShown(3), *_EXPLAINED),
       _t("mark", "I've watched number one and three", Omits(1, 3), Keeps(2), MinItems(5), MarkedSeen(1, 3),
          AllGenres("Thriller")),
       _t("more", "more of these", MinItems(5), FreshItems(), AllGenres("Thriller"), YearRange(1990, 1999)),
       _t("close", "cheers, that's all", *_CLOSED)),
    _d("comedy-2000s-detour", NEW,
       _t("request", "a comedy from the 2000s", MinItems(5), AllGenres("Comedy"), YearRange(2000, 2009)),
       _t("ask_item", "tell me a bit more about the second one", *_ANSWER, MentionsShown(2), FocusOn(2)),
       _t("ask_item", "and is it any good?", *_ANSWER, MentionsShown(2), ReplyMentions("rated")),
       _t("more", "ok, show me a few more", MinItems(5), FreshItems(), AllGenres("Comedy"),
          YearRange(2000, 2009))),
    _d("horror-80s-old", NEW,
       _t("request", "horror films from the 80s please", MinItems(5), AllGenres("Horror"),
          YearRange(1980, 1989)),
       _t("ask_item", "how old is the first one?", *_ANSWER, MentionsShown(1),
          ReplyMentions("came out in 198")),
       _t("ask_item", "is the fourth one scary?", *_ANSWER, MentionsShown(4), ReplyMentions("scary")),
       _t("more", "next", MinItems(5), FreshItems(), AllGenres("Horror"), YearRange(1980, 1989))),
    _d("scifi-why-pick", 414,
       _t("request", "recommend some science fiction", MinItems(5), AllGenres("Sci-Fi"), SeenExcluded()),
       _t("ask_why", "what makes the third one a good pick for me?", *_ANSWER, MentionsShown(3), *_EXPLAINED,
          ReplyMentions("science fiction", "sci-fi")),
       _t("ask_why", "and why that one over the others?", *_ANSWER, MentionsShown(3), *_EXPLAINED)),
    _d("western-why-number", NEW,
       _t("request", "I feel like a western", MinItems(5), AllGenres("Western")),
       _t("ask_why", "why did you put number 2 on the list?", *_ANSWER, MentionsShown(2), *_EXPLAINED,
          ReplyMentions("western")),
       _t("ask_item", "what year is it from?", *_ANSWER, MentionsShown(2), ReplyMentions("came out in"))),
    _d("docs-detour-more", NEW,
       _t("request", "documentaries about music", MinItems(5), AllGenres("Documentary")),
       _t("ask_item", "what's the fifth one about?", *_ANSWER, MentionsShown(5)),
       _t("ask_why", "how come you picked it?", *_ANSWER, MentionsShown(5), *_EXPLAINED),
       _t("more", "got any others like these?", MinItems(3), FreshItems(), AllGenres("Documentary"))),
    _d("animation-kids-questions", NEW,
       _t("request", "animated films for the kids", MinItems(5), AllGenres("Animation")),
       _t("ask_item", "is the first one ok for young children?", *_ANSWER, MentionsShown(1), FocusOn(1)),
       _t("ask_item", "and the second, is that one funny?", *_ANSWER, MentionsShown(2),
          ReplyMentions("funny"))),
    _d("crime-details-by-title", 1,
       _t("request", "crime films from the 70s", MinItems(5), AllGenres("Crime"), YearRange(1970, 1979)),
       _t("ask_item", "who's in the top one?", *_ANSWER, MentionsShown(1), ReplyMentions("cast")),
       _t("ask_item", "how long is the last film?", *_ANSWER, MentionsShown(-1),
          ReplyMentions("running time"))),
    # -- references by title and description ---------------------------------------------------------------
    _d("heat-ronin-by-title", 1,
       _t("request", "movies similar to Heat", MinItems(5), NotReturned("Heat (1995)"),
          GenreShare(("Crime", "Thriller", "Action"), 0.6)),
       _t("compare", "Heat or Ronin, which should I watch?", *_ANSWER, ReplyMentions("Heat"),
          ReplyMentions("Ronin"),
          ReplyMentions("I'd pick"))),
    _d("compare-first-turn", NEW,
       _t("compare", "Alien or Aliens: which one is better?", *_ANSWER, ReplyMentions("Alien (1979)"),
          ReplyMentions("Aliens (1986)"), ReplyMentions("I'd pick")),
       _t("ask_why", "why?", *_ANSWER, *_EXPLAINED)),
    _d("compare-positions", 414,
       _t("request", "a classic film noir", MinItems(5), AllGenres("Film-Noir")),
       _t("compare", "which would you go for, the first or the second?", *_ANSWER, MentionsShown(1, 2),
          ReplyMentions("I'd pick")),
       _t("ask_item", "is it dark?", *_ANSWER, ReplyMentions("dark"))),
    _d("compare-vs", NEW,
       _t("compare", "Jaws vs Psycho for tonight", *_ANSWER, ReplyMentions("Jaws"), ReplyMentions("Psycho"),
          ReplyMentions("I'd pick")),
       _t("request", "ok, something like Jaws then", MinItems(5), NotReturned("Jaws (1975)"))),
    _d("compare-classics", NEW,
       _t("compare", "should I see Casablanca or Vertigo?", *_ANSWER, ReplyMentions("Casablanca"),
          ReplyMentions("Vertigo"), ReplyMentions("I'd pick")),
       _t("close", "great, thank you, bye", *_CLOSED)),
    _d("compare-numbers", NEW,
       _t("request", "romantic comedies", MinItems(5), EveryGenre("Romance", "Comedy")),
       _t("compare", "hmm, 2 or 5?", *_ANSWER, MentionsShown(2, 5), ReplyMentions("I'd pick")),
       _t("mark", "we've seen both of those, to be honest", Omits(2, 5), MinItems(5), MarkedSeen(2, 5))),
    _d("described-reference", NEW,
       _t("request", "films like E.T.", MinItems(5), NotReturned("E.T. the Extra-Terrestrial (1982)")),
       _t("ask_item", "is the Toy Story one for kids?", NoItems(), ReplyMentions("Toy Story"))),
    _d("title-reference-why", 1,
       _t("request", "something like The Matrix", MinItems(5), NotReturned("Matrix, The (1999)")),
       _t("ask_why", "why is the second one in there?", *_ANSWER, MentionsShown(2), *_EXPLAINED,
          ReplyMentions("Matrix"))),
    # -- marking seen, liked and disliked ------------------------------------------------------------
    _d("seen-replace", NEW,
       _t("request", "a war movie", MinItems(5), AllGenres("War")),
       _t("mark", "seen the first two already", Omits(1, 2), Keeps(3), MinItems(5), AllGenres("War"),
          MarkedSeen(1, 2)),
       _t("more", "and some more?", MinItems(5), FreshItems(), AllGenres("War"))),
    _d("seen-by-title", 1,
       _t("request", "sci-fi from the 80s", MinItems(5), AllGenres("Sci-Fi"), YearRange(1980, 1989)),
       _t("mark", "already saw number 4", Omits(4), Keeps(1, 2), MinItems(5), MarkedSeen(4))),
    _d("liked-remembered", NEW,
       _t("request", "a feel-good comedy", MinItems(5), AllGenres("Comedy")),
       _t("mark", "I really loved the second one!", Omits(2), MinItems(5), MarkedSeen(2, how="liked"),
          ReplyMentions("remember"), ToolCalled("remember_preference"))),
    _d("disliked-remembered", NEW,
       _t("request", "an action movie from the 90s", MinItems(5), AllGenres("Action"), YearRange(1990, 1999)),
       _t("mark", "I hated the third one", Omits(3), MinItems(5), MarkedSeen(3, how="disliked"),
          ToolCalled("remember_preference")),
       _t("more", "keep them coming", MinItems(5), FreshItems(), AllGenres("Action"))),
    _d("seen-several", NEW,
       _t("request", "a family film", MinItems(5), AllGenres("Children")),
       _t("mark", "we've watched 1, 3 and 5", Omits(1, 3, 5), Keeps(2, 4), MinItems(5), MarkedSeen(1, 3, 5))),
    _d("seen-pronoun", NEW,
       _t("request", "a mystery film", MinItems(5), AllGenres("Mystery")),
       _t("ask_item", "what's the third one about?", *_ANSWER, FocusOn(3)),
       _t("mark", "oh I've seen it actually", Omits(3), MinItems(5), MarkedSeen(3))),
    # -- more after a detour -------------------------------------------------------------------------------
    _d("more-after-compare", NEW,
       _t("request", "a musical", MinItems(5), AllGenres("Musical")),
       _t("compare", "the first or the third?", *_ANSWER, MentionsShown(1, 3)),
       _t("more", "more please", MinItems(5), FreshItems(), AllGenres("Musical"))),
    _d("more-after-why", 414,
       _t("request", "best dramas of the 90s", MinItems(5), AllGenres("Drama"), YearRange(1990, 1999)),
       _t("ask_why", "why the first?", *_ANSWER, MentionsShown(1), *_EXPLAINED),
       _t("more", "what else have you got", MinItems(5), FreshItems(), AllGenres("Drama"),
          YearRange(1990, 1999))),
    _d("more-twice", NEW,
       _t("request", "adventure films", MinItems(5), AllGenres("Adventure")),
       _t("more", "more", MinItems(5), FreshItems(), AllGenres("Adventure")),
       _t("more", "even more", MinItems(5), FreshItems(), AllGenres("Adventure"))),
    _d("more-after-chitchat", NEW,
       _t("request", "a fantasy film", MinItems(5), AllGenres("Fantasy")),
       _t("chitchat", "haha nice", NoItems()),
       _t("more", "show me the next ones", MinItems(5), FreshItems(), AllGenres("Fantasy"))),
    _d("more-after-bad-ref", NEW,
       _t("request", "3 crime films", ItemCount(3), AllGenres("Crime")),
       _t("ask_item", "is the fifth one good?", *_KEPT, ReplyMentions("only showed 3")),
       _t("more", "any more?", MinItems(3), FreshItems(), AllGenres("Crime"))),
    # -- refinements ---------------------------------------------------------------------------------------
    _d("refine-after-1990", NEW,
       _t("request", "science fiction movies", MinItems(5), AllGenres("Sci-Fi")),
       _t("refine", "only after 1990", MinItems(5), AllGenres("Sci-Fi"), YearRange(1991, None)),
       _t("refine", "from the 2000s instead", MinItems(5), AllGenres("Sci-Fi"), YearRange(2000, 2009))),
    _d("refine-no-romance", NEW,
       _t("request", "a comedy", MinItems(5), AllGenres("Comedy")),
       _t("refine", "but no romance please", MinItems(5), AllGenres("Comedy"), NoGenre("Romance")),
       _t("refine", "and only ones from the 80s", MinItems(5), AllGenres("Comedy"), NoGenre("Romance"),
          YearRange(1980, 1989))),
    _d("refine-switch-genre", NEW,
       _t("request", "westerns from the 60s", MinItems(5), AllGenres("Western"), YearRange(1960, 1969)),
       _t("refine", "how about war films instead?", MinItems(5), AllGenres("War"), NoGenre("Western"))),
    _d("refine-before", 414,
       _t("request", "thrillers", MinItems(5), AllGenres("Thriller")),
       _t("refine", "made before 1980", MinItems(5), AllGenres("Thriller"), YearRange(None, 1979))),
    _d("refine-then-ask", NEW,
       _t("request", "horror movies", MinItems(5), AllGenres("Horror")),
       _t("refine", "only recent ones, after 2010", MinItems(5), AllGenres("Horror"), YearRange(2011, None)),
       _t("ask_item", "when did the second one come out?", *_ANSWER, MentionsShown(2),
          ReplyMentions("came out in 20"))),
    # -- critiques -----------------------------------------------------------------------------------------
    _d("critique-not-first", 1,
       _t("request", "an exciting action film from the 90s", MinItems(5), AllGenres("Action")),
       _t("critique", "not the first one", Omits(1), MinItems(5))),
    _d("critique-less-violent", NEW,
       _t("request", "a tense movie from the 90s", MinItems(5)),
       _t("critique", "less violent please", MinItems(5), AvoidsGenres(0.6, "Action", "War", "Horror"))),
    _d("critique-more-like", NEW,
       _t("request", "a 90s comedy", MinItems(5), AllGenres("Comedy")),
       _t("critique", "more like the fourth one", MinItems(5), Omits(4))),
    _d("critique-older", NEW,
       _t("request", "a drama", MinItems(5), AllGenres("Drama")),
       _t("critique", "something older", MinItems(5))),
    # -- something different -------------------------------------------------------------------------------
    _d("different-after-list", NEW,
       _t("request", "a sports movie", MinItems(5)),
       _t("different", "none of those grab me", MinItems(5), FreshItems())),
    _d("different-completely", NEW,
       _t("request", "a romance", MinItems(5), AllGenres("Romance")),
       _t("different", "show me something totally different", MinItems(5), FreshItems())),
    _d("different-else", 1,
       _t("request", "a film noir", MinItems(5), AllGenres("Film-Noir")),
       _t("different", "hmm, something else", MinItems(5), FreshItems())),
    # -- soft modifiers ------------------------------------------------------------------------------------
    _d("se7en-less-grim", NEW,
       _t("request", "something like Se7en but less grim", MinItems(5), NotReturned(_SE7EN),
          AvoidsGenres(0.5, *_DARK), ReplyMentions("lighter"))),
    _d("shining-less-scary", NEW,
       _t("request", "like The Shining, just less scary", MinItems(5), NotReturned("Shining, The (1980)"),
          AvoidsGenres(0.4, "Horror"))),
    _d("war-lighter", NEW,
       _t("request", "a war film", MinItems(5), AllGenres("War")),
       _t("refine", "a bit lighter", MinItems(5), AllGenres("War"), GenreShare(("Comedy",), 0.3))),
    _d("darker-after", NEW,
       _t("request", "an animated movie", MinItems(5), AllGenres("Animation")),
       _t("refine", "darker", MinItems(5), AllGenres("Animation"), AvoidsGenres(0.7, "Children"))),
    _d("shorter-unknown", NEW,
       _t("request", "a long epic drama", MinItems(5)),
       _t("refine", "something shorter", ReplyMentions("running time", "no runtime", "no running"))),
    _d("less-violent-reference", NEW,
       _t("request", "like Goodfellas but less violent", MinItems(5), NotReturned("Goodfellas (1990)"),
          AvoidsGenres(0.6, "Action", "War", "Horror"))),
    # -- chit-chat and closings ----------------------------------------------------------------------------
    _d("greeting-then-request", NEW,
       _t("chitchat", "hey there", NoItems(), StateUnchanged()),
       _t("request", "I'd like a comedy", MinItems(5), AllGenres("Comedy")),
       _t("chitchat", "thanks a lot", NoItems(), ReplyMentions("welcome")),
       _t("close", "that's everything, bye", *_CLOSED)),
    _d("close-after-pick", NEW,
       _t("request", "an adventure film from the 80s", MinItems(5), AllGenres("Adventure")),
       _t("critique", "I'll take the second one", NoItems()),
       _t("close", "perfect, I'm all set", *_CLOSED, MentionsShown(2))),
    _d("close-variants", NEW,
       _t("request", "a thriller", MinItems(5)),
       _t("close", "ok great, good night", *_CLOSED)),
    _d("close-helpful", 1,
       _t("request", "a crime drama", MinItems(5)),
       _t("close", "you've been very helpful, cheers", *_CLOSED)),
    _d("chitchat-who", NEW,
       _t("chitchat", "who are you?", NoItems(), ReplyMentions("recommend")),
       _t("request", "a good horror film", MinItems(5), AllGenres("Horror"))),
    # -- messages it cannot read ---------------------------------------------------------------------------
    _d("german-request", NEW,
       _t("not_understood", "Ich möchte einen Horrorfilm aus den 80ern", *_NOT_READ, ReplyMentions("horror")),
       _t("request", "a horror film from the 80s", MinItems(5), AllGenres("Horror"), YearRange(1980, 1989))),
    _d("spanish-mid-dialogue", NEW,
       _t("request", "a comedy from the 90s", MinItems(5), AllGenres("Comedy")),
       _t("not_understood", "quiero algo diferente por favor", *_NOT_READ),
       _t("more", "more", MinItems(5), FreshItems(), AllGenres("Comedy"))),
    _d("french-request", NEW,
       _t("not_understood", "je voudrais un film d'animation pour les enfants", *_NOT_READ)),
    _d("emoji-only", 1,
       _t("request", "a western", MinItems(5), AllGenres("Western")),
       _t("not_understood", "🤠🐎👍", *_NOT_READ),
       _t("ask_item", "is the first one violent?", *_ANSWER, MentionsShown(1))),
    _d("symbols-only", NEW,
       _t("not_understood", "?!?!", *_NOT_READ)),
    # -- bad references ------------------------------------------------------------------------------------
    _d("seventh-of-five", NEW,
       _t("request", "give me 5 dramas", ItemCount(5), AllGenres("Drama")),
       _t("ask_item", "tell me about the seventh one", *_KEPT, ReplyMentions("only showed 5")),
       _t("ask_why", "why number 9?", *_KEPT, ReplyMentions("only showed 5")),
       _t("mark", "I've seen the eighth", *_KEPT, ReplyMentions("only showed 5"))),
    _d("nothing-shown", NEW,
       _t("ask_item", "is the first one any good?", *_KEPT, ReplyMentions("haven't shown")),
       _t("ask_why", "why that one?", *_KEPT, ReplyMentions("haven't")),
       _t("mark", "I've seen number two", *_KEPT, ReplyMentions("haven't shown"))),
    _d("it-without-focus", NEW,
       _t("request", "some comedies", MinItems(5), AllGenres("Comedy")),
       _t("ask_item", "is it funny?", *_KEPT, ReplyMentions("which of the")),
       _t("ask_item", "the third one I mean, is it funny?", *_ANSWER, MentionsShown(3),
          ReplyMentions("funny"))),
    _d("compare-unknown-titles", NEW,
       _t("compare", "Foobarbaz or Quuxinator, which is better?", *_KEPT, ReplyMentions("couldn't find"))),
    _d("compare-one-unknown", 1,
       _t("request", "a heist movie", MinItems(5)),
       _t("compare", "Heat or Zzyzzyva Qwerty, what would you pick?", *_KEPT, ReplyMentions("Zzyzzyva"))),
    _d("last-of-nothing", NEW,
       _t("ask_item", "what year is the last one from?", *_KEPT, ReplyMentions("haven't shown"))),
    # -- longer mixed dialogues ----------------------------------------------------------------------------
    _d("evening-plan", NEW,
       _t("chitchat", "hello!", NoItems()),
       _t("request", "we want an animated comedy", MinItems(5), EveryGenre("Comedy", "Animation")),
       _t("ask_item", "is number one suitable for kids?", *_ANSWER, MentionsShown(1)),
       _t("mark", "we've seen that one", Omits(1), MinItems(5), MarkedSeen(1)),
       _t("compare", "the second or the third one?", *_ANSWER, MentionsShown(2, 3)),
       _t("close", "brilliant, cheers", *_CLOSED)),
    _d("date-night", NEW,
       _t("request", "a romantic film from the 2000s", MinItems(5), AllGenres("Romance"),
          YearRange(2000, 2009)),
       _t("ask_why", "why the first one?", *_ANSWER, MentionsShown(1), *_EXPLAINED),
       _t("different", "nah, something different", MinItems(5), FreshItems()),
       _t("close", "ok thanks, that's all I needed", *_CLOSED)),
    _d("movie-buff", 1,
       _t("request", "the best movies of the 70s", MinItems(5), YearRange(1970, 1979)),
       _t("ask_item", "what genre is the fourth one?", *_ANSWER, MentionsShown(4)),
       _t("ask_why", "why is it on the list?", *_ANSWER, MentionsShown(4), *_EXPLAINED),
       _t("more", "next page", MinItems(5), FreshItems(), YearRange(1970, 1979))),
    _d("picky-viewer", NEW,
       _t("request", "a sci-fi thriller", MinItems(5), EveryGenre("Sci-Fi", "Thriller")),
       _t("mark", "I didn't enjoy the first one", Omits(1), MinItems(5), MarkedSeen(1, how="disliked")),
       _t("ask_item", "is the new first one scary?", *_ANSWER, MentionsShown(1)),
       _t("refine", "only after 2000", MinItems(5), EveryGenre("Sci-Fi", "Thriller"), YearRange(2001, None))),
    _d("kids-afternoon", NEW,
       _t("request", "something for my kids, nothing scary", MinItems(5), NoGenre("Horror")),
       _t("ask_item", "how old is the second film?", *_ANSWER, MentionsShown(2),
          ReplyMentions("came out in")),
       _t("more", "other options?", MinItems(5), FreshItems(), NoGenre("Horror"))),
    _d("reference-then-compare", NEW,
       _t("request", "something like Toy Story", MinItems(5), NotReturned("Toy Story (1995)")),
       _t("compare", "which is better, the first or the last?", *_ANSWER, MentionsShown(1, -1)),
       _t("ask_why", "why would I like that one?", *_ANSWER, *_EXPLAINED)),
    _d("profile-then-list", NEW,
       _t("request", "I liked Fargo, anything like it?", MinItems(5), NotReturned("Fargo (1996)"),
          Remembered("like_item", "608")),
       _t("ask_why", "why the second?", *_ANSWER, MentionsShown(2), *_EXPLAINED, ReplyMentions("Fargo")),
       _t("close", "ta, that'll do", *_CLOSED)),
    # -- more mixed dialogues ------------------------------------------------------------------------------
    _d("rainy-sunday", NEW,
       _t("chitchat", "good afternoon", NoItems(), StateUnchanged()),
       _t("request", "something cosy for a rainy sunday", MinItems(5), NoGenre("Horror")),
       _t("ask_item", "number three, is it sad?", *_ANSWER, MentionsShown(3), ReplyMentions("sad")),
       _t("mark", "oh I saw number three last year", Omits(3), MinItems(5), MarkedSeen(3)),
       _t("more", "any more like these?", MinItems(5), FreshItems()),
       _t("close", "lovely, that will do, thanks", *_CLOSED)),
    _d("friday-action", NEW,
       _t("request", "a big action blockbuster", MinItems(5), AllGenres("Action")),
       _t("critique", "not the second one", Omits(2), MinItems(5)),
       _t("compare", "so, the first one or the third one?", *_ANSWER, MentionsShown(1, 3),
          ReplyMentions("I'd pick")),
       _t("ask_why", "why that pick?", *_ANSWER, *_EXPLAINED),
       _t("close", "sounds good, bye", *_CLOSED)),
    _d("noir-explorer", 414,
       _t("request", "noir films from the 40s", MinItems(3), AllGenres("Film-Noir"), YearRange(1940, 1949)),
       _t("ask_item", "who directed the first one?", *_ANSWER, MentionsShown(1),
          ReplyMentions("cast or crew")),
       _t("more", "more from that list", MinItems(1), FreshItems(), AllGenres("Film-Noir")),
       _t("chitchat", "interesting", NoItems())),
    _d("teen-comedy", NEW,
       _t("request", "a high school comedy", MinItems(5), AllGenres("Comedy")),
       _t("mark", "I liked the first one", Omits(1), MinItems(5), MarkedSeen(1, how="liked")),
       _t("ask_why", "why the new second one?", *_ANSWER, MentionsShown(2), *_EXPLAINED),
       _t("different", "meh, something else", MinItems(5), FreshItems())),
    _d("italian-then-english", NEW,
       _t("not_understood", "vorrei un film romantico per stasera", *_NOT_READ),
       _t("request", "a romantic film for tonight", MinItems(5), AllGenres("Romance")),
       _t("ask_item", "what's the fourth one about?", *_ANSWER, MentionsShown(4))),
    _d("space-night", 1,
       _t("request", "films about space", MinItems(5)),
       _t("refine", "only ones from before 1990", MinItems(5), YearRange(None, 1989)),
       _t("ask_item", "is the last one scary?", *_ANSWER, MentionsShown(-1), ReplyMentions("scary")),
       _t("compare", "the last one or the first one, which is better?", *_ANSWER, MentionsShown(1, -1))),
    _d("critic-session", NEW,
       _t("request", "a good mystery from the 90s", MinItems(5), AllGenres("Mystery"), YearRange(1990, 1999)),
       _t("critique", "less horror please", MinItems(5), AvoidsGenres(0.5, "Horror")),
       _t("ask_why", "why is the fifth one there?", *_ANSWER, MentionsShown(5), *_EXPLAINED),
       _t("mark", "seen 1 and 2", Omits(1, 2), MinItems(5), MarkedSeen(1, 2))),
)
# fmt: on


@dataclass
class TurnResult:
    """The outcome of one turn."""

    dialogue: str
    index: int
    turn: DialogueTurnCase
    passed: bool
    reasons: list[str]
    reply: str
    ms: float


def run_dialogues(agent: RecommenderAgent, dialogues: Sequence[DialogueCase] = DIALOGUES) -> list[TurnResult]:
    """Run every dialogue through ``agent`` (each in a session of its own) and check every turn."""
    run = uuid.uuid4().hex[:8]
    memory = agent.runtime.memory
    results: list[TurnResult] = []
    for dialogue in dialogues:
        user = f"dialogue-{dialogue.id}-{run}" if dialogue.user == NEW else dialogue.user
        session = f"dialogue-{run}-{dialogue.id}"
        earlier: list[Any] = []
        for index, turn in enumerate(dialogue.turns):
            before = memory.dialogue_state(session)
            started = time.perf_counter()
            try:
                response = agent.respond(user, turn.message, session_id=session)
            except Exception as exc:  # a crash fails the turn, reported with its type
                reason = f"crashed: {type(exc).__name__}: {exc}"
                results.append(TurnResult(dialogue.id, index, turn, False, [reason], "", 0.0))
                break
            ms = (time.perf_counter() - started) * 1000
            context = CheckContext(
                catalog=agent.runtime.catalog,
                memory=memory,
                user_id=user,
                earlier=list(earlier),
                state_before=before,
                state_after=memory.dialogue_state(session),
            )
            reasons = [
                f"{type(check).__name__}: {problem}"
                for check in turn.checks
                if (problem := check.evaluate(response, context))
            ]
            results.append(TurnResult(dialogue.id, index, turn, not reasons, reasons, response.reply, ms))
            earlier.append(response)
    return results


def dialogue_report(agent: RecommenderAgent, dialogues: Sequence[DialogueCase] = DIALOGUES) -> dict[str, Any]:
    """Pass rate over turns and per act, failures, and turn latency of ``agent`` on the dialogues."""
    results = run_dialogues(agent, dialogues)
    passed = sum(r.passed for r in results)
    acts: dict[str, dict[str, int]] = {}
    for result in results:
        entry = acts.setdefault(result.turn.act, {"turns": 0, "passed": 0})
        entry["turns"] += 1
        entry["passed"] += int(result.passed)
    latencies = np.array([r.ms for r in results if r.ms > 0]) if results else np.zeros(0)
    return {
        "dialogues": len(dialogues),
        "turns": len(results),
        "passed": passed,
        "pass_rate": passed / len(results) if results else 0.0,
        "dialogues_passed": sum(all(r.passed for r in results if r.dialogue == d.id) for d in dialogues),
        "acts": acts,
        "failures": [
            {
                "dialogue": r.dialogue,
                "turn": r.index + 1,
                "act": r.turn.act,
                "message": r.turn.message,
                "reasons": r.reasons,
                "reply": r.reply[:400],
            }
            for r in results
            if not r.passed
        ],
        "latency_ms": {
            "p50": float(np.percentile(latencies, 50)) if len(latencies) else 0.0,
            "p95": float(np.percentile(latencies, 95)) if len(latencies) else 0.0,
        },
    }
