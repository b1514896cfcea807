"""Conversational recommendation: dialogue state, ask-or-recommend policies, critiques, feed commands."""

from recpilot.conversation.state import Critique, DialogueState

__all__ = ["Critique", "DialogueState"]
