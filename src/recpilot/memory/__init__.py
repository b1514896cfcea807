"""User memory: long-term profiles (likes, dislikes, constraints, summary), feed rules, dialogue sessions
and their typed dialogue states."""

from recpilot.memory.base import (
    DialogueTurn,
    InMemoryProfileMemory,
    Preference,
    PreferenceKind,
    ProfileMemory,
    UserProfile,
)
from recpilot.memory.condense import condense_dialogue
from recpilot.memory.dialogue import Critique, DialogueState
from recpilot.memory.feed_rules import (
    AttributeTarget,
    FeedEffect,
    FeedRule,
    FeedTarget,
    NumericTarget,
    TitlePatternTarget,
)
from recpilot.memory.sql import SqlProfileMemory
from recpilot.memory.summary import build_profile_summary, profile_summary

__all__ = [
    "AttributeTarget",
    "Critique",
    "DialogueState",
    "DialogueTurn",
    "FeedEffect",
    "FeedRule",
    "FeedTarget",
    "InMemoryProfileMemory",
    "NumericTarget",
    "Preference",
    "PreferenceKind",
    "ProfileMemory",
    "SqlProfileMemory",
    "TitlePatternTarget",
    "UserProfile",
    "build_profile_summary",
    "condense_dialogue",
    "profile_summary",
]
