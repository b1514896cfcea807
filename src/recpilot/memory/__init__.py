"""User memory: long-term profiles (likes, dislikes, constraints, summary) and dialogue sessions."""

from recpilot.memory.base import (
    DialogueTurn,
    InMemoryProfileMemory,
    Preference,
    PreferenceKind,
    ProfileMemory,
    UserProfile,
)
from recpilot.memory.condense import condense_dialogue
from recpilot.memory.sql import SqlProfileMemory
from recpilot.memory.summary import build_profile_summary, profile_summary

__all__ = [
    "DialogueTurn",
    "InMemoryProfileMemory",
    "Preference",
    "PreferenceKind",
    "ProfileMemory",
    "SqlProfileMemory",
    "UserProfile",
    "build_profile_summary",
    "condense_dialogue",
    "profile_summary",
]
