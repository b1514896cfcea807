"""Dialogue acts: what a message does in the conversation, read from its words and the dialogue state.

A message is one act (the CRS surveys' inventory, as MACRS and RecBot plan over it):

========================  ==========================================================================
``request``/``refine``    a recommendation request, new or adjusting the current one (the parser's job)
``critique``              a reaction to the list ("not the first", "less violent"; the critique layer)
``ask_item``              a question about a shown item ("is the last one violent?", "how old is it?")
``ask_why``               why an item was suggested ("what makes the third one a good pick for me?")
``compare``               two items against each other ("Heat or Ronin, which should I watch?")
``mark``                  seen / liked / disliked items ("I've watched number one and three")
``more``                  the next page of the list the user was looking at
``different``             something else than what was shown
``chitchat``/``close``    small talk, thanks, goodbye ("cheers, that's all")
``not_understood``        a message the brain cannot read (another language, only symbols)
========================  ==========================================================================

:func:`read_act` decides the kind with an :class:`~recpilot.understanding.act_classifier.ActClassifier`
when one is given (sentence embeddings trained on example phrasings) and with the rules below
otherwise, then fills the slots (which items, which question) with rules. Kinds the rest of the
brain already handles (``request``, ``refine``, ``critique``) come back as None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

from recpilot.understanding.lexicon import word_set
from recpilot.understanding.shown import References, ShownItem, find_references, normalise

if TYPE_CHECKING:
    from recpilot.understanding.act_classifier import ActClassifier

ActKind = Literal[
    "request",
    "refine",
    "critique",
    "ask_item",
    "ask_why",
    "compare",
    "mark",
    "more",
    "different",
    "chitchat",
    "close",
    "not_understood",
]
#: Every act kind, in the order of the table above.
ACT_KINDS: tuple[ActKind, ...] = get_args(ActKind)
MarkKind = Literal["seen", "liked", "disliked"]


@dataclass
class DialogueAct:
    """One recognised act with its slots.

    Attributes:
        kind: The act.
        refs: The shown items it refers to (or the problem resolving them).
        mark: For ``mark``: seen, liked or disliked.
        text: The message, normalised.
        titles: For ``compare``: the title spans outside the shown list, for a catalog lookup.
        reason: Why the act was chosen (rules or classifier), for the trace.
    """

    kind: ActKind
    refs: References = field(default_factory=References)
    mark: MarkKind | None = None
    text: str = ""
    titles: list[str] = field(default_factory=list)
    reason: str = "rules"


_CLOSE = re.compile(
    r"^(?:(?:ok(?:ay)?|great|perfect|awesome|lovely|brilliant|nice|cool|good|super|fab(?:ulous)?|"
    r"excellent|wonderful|alright|all right|right|fine|cheers|ta|sounds (?:good|great|perfect|fine)|"
    r"that works|deal|will do|now|for now|for today|today|then|for tonight|"
    r"thanks?(?: you)?(?: (?:so|very) much)?"
    r"(?: a lot| a bunch| again)?|thx|ty|many thanks|much appreciated|appreciated|bye|goodbye|"
    r"bye bye|see you|see ya|later|good night|night|thats (?:all|it|everything|enough)|that is (?:all|it)|"
    r"thats all i need(?:ed)?|that will do|thatll do|that(?:s| is) great|"
    r"im (?:done|good|all set|set)|i am (?:done|good|all set)|all set|all good|done|"
    r"nothing else|no more(?: thanks)?|"
    r"(?:i think )?(?:ill|i will) (?:go with|watch) (?:that|one of those|those)|"
    r"(?:ive|i have) got (?:what i need|enough)|enjoy|have a good (?:one|night|day|evening)|"
    r"you(?:ve| have) been (?:very |really |so )?helpful|(?:very |really )?helpful)[ ,.!]*)+$"
)
_THANKS_ONLY = re.compile(
    r"^(?:thanks?(?: you)?(?: (?:so|very) much)?(?: a lot| a bunch)?|thx|ty|much appreciated)[ ,.!]*$"
)
_CHITCHAT = re.compile(
    r"^(?:hi|hello|hey|hiya|yo|howdy|good (?:morning|afternoon|evening)|how are you(?: doing)?(?: today)?|"
    r"whats up|sup|who are you|what are you|what can you do(?: for me)?|how does this work|help|"
    r"hows it going|how is it going|hows things|how are things|whats your name|"
    r"are you (?:a )?(?:robot|bot|human|person|an ai|ai|real)|"
    r"(?:(?:lol|(?:ha)+h?|hehe|hmm+|interesting|wow|oh|ah|nice|cool|neat|fun|sweet|fair enough|i see|ok|okay)"
    r"[ ,!.]*)+|"
    r"you(?:re| are) (?:funny|great|smart|good|helpful|a good bot|awesome|amazing|the best|brilliant|cool)|"
    r"do you (?:like|watch) (?:movies|films)|whats your favou?rite (?:movie|film))"
    r"(?: there| again| bot| assistant| mate)?[ ,.!?]*$"
)
_WHY = re.compile(
    r"^(?:but |so |and |ok |hmm )?(?:why|whys|how come|what makes|whats so (?:good|great|special) about|"
    r"what is so (?:good|great|special) about|explain|reason for|whats the reason|what is the reason|"
    r"why did you|why would|why do you think|why should|justify|how did you (?:pick|choose|come up with))\b"
    r"|\bwhy (?:is|was|did|would|should|do)\b|\b(?:a )?good (?:pick|choice|match|fit) for me\b"
    r"|\bwhy (?:that|this|it|these|those)\b|\b(?:relevant|right|suited|a match) (?:to|for) me\b|"
    r"\bin common with\b|\b(?:logic|reasoning|thinking) behind\b|\bfits? (?:what|with what) (?:i|we)\b|"
    r"\bwhat (?:about it|in it) (?:appeals|fits)\b"
)
_COMPARE = re.compile(
    r"\b(?:which (?:is|one is|would you|should i|of (?:the|these|those|them)|one)|compare|"
    r"versus|vs|better|difference between|or the|what would you (?:pick|choose)|which (?:one )?do you)\b"
    r"|\bor\b.*\b(?:which|better|should i|pick|choose|prefer)\b|^(?:should|shall|do) (?:i|we) .*\bor\b"
)
_SEEN = re.compile(
    r"\b(?:(?:ive|i have|i had|i|weve|we have|we|already|both|seen|watched)\s+)*"
    r"(?:already )?(?:seen|watched|saw|seen both|watched both)\b"
)
_LIKED = re.compile(
    r"\b(?:i|we|ive|i have|i really|i absolutely|my (?:wife|husband|kids|partner))\s+"
    r"(?:really |absolutely |totally |quite )?(?:liked|loved|enjoyed|adored|like|love|enjoy|dig)\b"
    r"|\b(?:is|was) (?:great|brilliant|amazing|fantastic|a favou?rite|one of my favou?rites)\b"
    r"|^(?:really |absolutely |totally )?(?:liked|loved|enjoyed|adored)\b"
)
_DISLIKED = re.compile(
    r"\b(?:i|we|ive)\s+(?:really |absolutely |totally )?(?:hated|disliked|hate|dislike|couldnt stand|"
    r"didnt (?:like|enjoy)|dont (?:like|enjoy)|did not (?:like|enjoy)|do not (?:like|enjoy))\b"
    r"|\b(?:is|was) (?:awful|terrible|boring|rubbish|bad|overrated)\b|\bnot a fan of\b"
)
_MORE = re.compile(
    r"^(?:(?:ok|okay|and|so|cool|nice|great|hmm|alright|sure|yes|yeah)[ ,]+)*"
    r"(?:can you |could you |please |can i see |could i see |can we see |may i see |can i have |can i get )?"
    r"(?:(?:show me|show|give me|got|have you got|you got|any|let me see|lets see|i want|id like|even|just)"
    r" )*"
    r"(?:some |a few |a couple |a bunch |a few |even )?"
    r"(?:more|next|others|other ones|other options|further|another (?:few|batch|page|set)|"
    r"next (?:\d{1,2}|two|three|four|five|ten))"
    r"(?: (?:please|results|options|titles|films|movies|ones|suggestions|picks|of (?:these|those|them|that)|"
    r"like (?:these|those|this)|from (?:that|the|this) list|in (?:that|the|this) list|page|ideas|"
    r"on the list|of the same|of the same kind|of that kind|in the same vein))*[ ,.!?]*$"
    r"|^(?:keep (?:going|them coming)(?: please)?|next page|whats next|"
    r"what else(?: (?:have you got|is there|you got))?|"
    r"anything else (?:like (?:these|those|that)|from that list|on that list)|go on|continue|"
    r"(?:show me |give me )?the next (?:ones|few|batch|page|set)|(?:and )?then)[ ,.!?]*$"
)
_DIFFERENT = re.compile(
    r"^(?:(?:hmm|no|nah|meh|ugh|ok)[ ,]+)*(?:can you |could you )?"
    r"(?:show me |give me |i want |i need |lets try |try )?"
    r"(?:something|anything|some(?:thing)? (?:completely|totally|entirely|very)) ?"
    r"(?:completely |totally |entirely |very )?(?:different|else)"
    r"(?: (?:please|entirely|altogether|instead))*"
    r"(?:[ ,.!?]*|[ ,]+(?:these|those|they|theyre|its|thats|this|i|we)\b.*)$"
    r"|^(?:(?:can you |could you )?(?:show me |give me |try )?different ones(?: please)?|"
    r"none of (?:these|those|them)(?: (?:appeal|work|grab me|do it for me))?|"
    r"not (?:these|those|feeling these)|different ones|other stuff|"
    r"(?:these|those|they) (?:dont|do not|didnt) (?:do it for me|work for me|appeal|grab me)|"
    r"i dont like (?:any of )?(?:these|those|them)|these are(?: all)? (?:bad|boring|not for me)|"
    r"change it up|mix it up)[ ,.!?]*$"
)
_QUESTION_START = re.compile(
    r"^(?:is|are|was|were|does|do|did|has|have|how|what|whats|who|whos|when|where|which|can|could|"
    r"would|will|should|tell me|any)\b"
)
_DETAILS_CUE = re.compile(
    r"\b(?:tell me (?:more |a bit |a little )?about|(?:a bit |a little )?more about|more (?:info|details)|"
    r"details|info|information|describe|what is it about|whats it about|plot|story|summary|synopsis)\b"
)
_CRITIQUE_START = re.compile(r"^(?:not|no|nah|nope|skip|drop|remove|less|more like|without)\b")
# Letters of other scripts or languages the catalog vocabulary is not written in.
_FOREIGN = word_set(
    "ich möchte mochte einen eine ein und nicht mit von etwas aus den der die das bitte gerne quiero una "
    "unos unas busco algo peli pelicula película de los las por favor quisiera je veux voudrais un une "
    "des le la les avec quelque chose film svp vorrei qualcosa uno gli con per"
)
_ENGLISH = word_set(
    "i a an the with from of and please want like something movie movies film films me show give some "
    "any recommend watch"
)


def read_act(
    message: str,
    shown: list[ShownItem],
    focus: str | None,
    classifier: ActClassifier | None = None,
    discussed: list[str] | None = None,
) -> DialogueAct | None:
    """The message's act with its slots, or None for a request, refinement or critique.

    Args:
        message: What the user said.
        shown: The list shown last (empty before any).
        focus: The item the conversation is about, if any.
        classifier: A learned act classifier; None uses the rules alone.
        discussed: The items the last question was about ("both of those").
    """
    text = normalise(message)
    if not re.search(r"[^\W_]", text):
        return DialogueAct(kind="not_understood", text=text, reason="no words")
    kind = rule_kind(text, shown, focus, discussed)
    reason = "rules"
    if kind in ("request", "ask_item") and classifier is not None:
        # The rules are precise but narrow; the classifier covers other phrasings of the same acts,
        # and is trusted only when the act's slots can be filled.
        learned = classifier.classify(text)
        # A question about an item may be a "why" or a comparison the rules did not see; it never
        # turns back into a request.
        overrides = kind == "request" or learned in ("ask_why", "compare")
        if learned is not None and learned != kind and overrides and _fits(learned, text, shown, focus):
            kind, reason = learned, f"classifier ({classifier.name})"
    return _with_slots(kind, text, shown, focus, reason, discussed)


def _fits(kind: ActKind, text: str, shown: list[ShownItem], focus: str | None) -> bool:
    """Whether a message can carry the act the classifier proposed (its references resolve)."""
    words = text.replace(",", " ").split()
    if kind in ("ask_item", "ask_why", "mark"):
        refs = find_references(text, shown, focus, numbers=kind != "ask_item")
        return bool(refs.items or refs.problem) or (kind == "ask_why" and len(words) <= 3)
    if kind == "compare":
        refs = find_references(text, shown, focus, numbers=True)
        return len(refs.items) >= 2 or len(_compared_spans(text, refs)) >= 2
    if kind in ("chitchat", "close"):
        return len(words) <= 6
    if kind == "not_understood":
        return not any(w in _ENGLISH for w in words)
    return kind in ("more", "different") and bool(shown)


def rule_kind(
    text: str, shown: list[ShownItem], focus: str | None, discussed: list[str] | None = None
) -> ActKind:
    """The act kind the rules read in a normalised message (``request`` when none fits)."""
    words = text.replace(",", " ").split()
    if _THANKS_ONLY.match(text):
        return "chitchat"
    if _CLOSE.match(text):
        return "close"
    if _CHITCHAT.match(text):
        return "chitchat"
    if _foreign(words):
        return "not_understood"
    if _MORE.match(text):
        return "more"
    if _DIFFERENT.match(text):
        return "different"
    if _REQUEST_CUE.search(text):
        return "request"  # "something like it", "anything like the first one": a request to run
    refs = find_references(text, shown, focus, numbers=bool(_SEEN.search(text)), discussed=discussed)
    about_items = bool(refs.items or refs.problem or refs.plural)
    if _PICK.search(text) and len(refs.items) == 1 and not _WHY.search(text) and "?" not in text:
        return "close"  # "perfect, I'll watch the first one": the user chose
    if _WHY.search(text) and (about_items or refs.pronoun or len(words) <= 4):
        return "ask_why"
    options = _compared_spans(text, refs) if " or " in text or " vs " in text or "versus" in text else []
    if (_COMPARE.search(text) and (len(refs.items) >= 2 or len(options) >= 2)) or _options_resolve(
        options, shown, focus
    ):
        return "compare"
    if _SEEN.search(text) and (about_items or refs.pronoun or _bare_numbers(text)):
        return "mark"
    # "I liked Heat, it was great": a statement of taste (the parser's) unless a shown item is named.
    if (_LIKED.search(text) or _DISLIKED.search(text)) and (refs.items or refs.positions) and not refs.plural:
        return "mark"
    is_question = bool(_QUESTION_START.match(text)) or "?" in text
    if _CRITIQUE_START.match(text):
        return "request"  # "not the first one", "less violent": a critique of the list
    if about_items and not refs.plural and (is_question or _DETAILS_CUE.search(text)):
        return "ask_item"
    return "request"


_REQUEST_CUE = re.compile(
    r"\b(?:something|anything|more|films?|movies?|ones?|stuff) (?:(?:just |a bit |more )?like|similar to)"
    r" (?!\?|$)"
)
# "that's perfect, I'll watch the first one": a pick that ends the conversation.
_PICK = re.compile(
    r"\b(?:ill|i will|im going to|going to|gonna|lets|let me|we will|well) "
    r"(?:watch|go with|take|try|pick|choose|see)\b"
)


def _options_resolve(options: list[str], shown: list[ShownItem], focus: str | None) -> bool:
    """ "2 or 5?", "the first or the third?": two options, each a reference to a shown item."""
    if len(options) != 2 or not shown:
        return False
    return all(len(find_references(o, shown, focus, numbers=True).items) == 1 for o in options)


def _with_slots(
    kind: ActKind,
    text: str,
    shown: list[ShownItem],
    focus: str | None,
    reason: str,
    discussed: list[str] | None = None,
) -> DialogueAct | None:
    if kind in ("request", "refine", "critique"):
        return None
    act = DialogueAct(kind=kind, text=text, reason=reason)
    if kind in ("ask_item", "ask_why", "compare", "mark") or (kind == "close" and _PICK.search(text)):
        numbers = kind in ("mark", "compare", "ask_why")
        act.refs = find_references(text, shown, focus, numbers=numbers, discussed=discussed)
    if kind == "mark":
        act.mark = (
            "seen"
            if _SEEN.search(text)
            else "disliked"
            if _DISLIKED.search(text)
            else "liked"
            if _LIKED.search(text)
            else "seen"
        )
    if kind == "compare":
        act.titles = _compared_spans(text, act.refs)
    return act


def _foreign(words: list[str]) -> bool:
    """Mostly function words of another language ("Ich möchte einen Horrorfilm aus den 80ern")."""
    foreign = sum(w in _FOREIGN for w in words)
    english = sum(w in _ENGLISH for w in words)
    return foreign >= 2 and foreign > english


def _bare_numbers(text: str) -> bool:
    return bool(re.search(r"\b\d{1,2}\b", text))


_SPLIT_OPTIONS = re.compile(r"\s+(?:or|vs|versus|and|against|compared to|over)\s+|\s*,\s*")
_COMPARE_FRAME = re.compile(
    r"^(?:(?:so|ok|hmm|well)\s+)?(?:should i (?:watch|go with|pick|see)|which (?:is better|one)[ ,:]*|"
    r"compare|whats the difference between|what is the difference between|difference between|"
    r"would you (?:pick|choose|go with)|do you prefer|is)\s+"
)
_COMPARE_TAIL = re.compile(
    r"\s*[,?]?\s*(?:which (?:one )?(?:should i|would you|is|do you)\b.*|whats better.*|"
    r"what would you (?:pick|choose|go for|recommend|watch)\b.*|"
    r"which is better.*|for (?:tonight|me)|better|tonight|\?)\s*$"
)


_INTERJECTIONS = word_set("hmm hm so ok okay well um uh right and but then tonight")


def _compared_spans(text: str, refs: References) -> list[str]:
    """The option texts of a comparison ("Heat or Ronin, which should I watch?" -> Heat, Ronin)."""
    body = _COMPARE_TAIL.sub("", text.replace("?", " ").strip())
    body = _COMPARE_FRAME.sub("", body).strip(" ,")
    options = [o.strip(" ,") for o in _SPLIT_OPTIONS.split(body) if o.strip(" ,")]
    return [o for o in options if (len(o) > 1 or o.isdigit()) and o not in _INTERJECTIONS][:4]
