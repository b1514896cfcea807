"""Safety: privilege policies for tool calls, the user's request judged from their own words,
datamarking of untrusted text in prompts, and memory write auditing.

The dispatcher (:class:`recpilot.tools.ToolDispatcher`) is the one place policies are enforced; the
default policy (:func:`default_policy`) is on in the library, the CLI, the service, the HTTP API and MCP.
"""

from recpilot.safety.datamark import datamark, neutralise, untrusted_block
from recpilot.safety.defaults import allow_all_policy, default_policy, read_only_policy
from recpilot.safety.loading import BUILT_IN, load_policy, parse_policy, report_unusable
from recpilot.safety.policy import (
    Action,
    ArgPredicate,
    Decision,
    PolicyCall,
    PolicyRule,
    SafetyPolicy,
    ToolDeniedError,
)
from recpilot.safety.request import TOOL_WRITES, RequestedWrite, UserRequest, WriteKind

__all__ = [
    "BUILT_IN",
    "TOOL_WRITES",
    "Action",
    "ArgPredicate",
    "Decision",
    "PolicyCall",
    "PolicyRule",
    "RequestedWrite",
    "SafetyPolicy",
    "ToolDeniedError",
    "UserRequest",
    "WriteKind",
    "allow_all_policy",
    "datamark",
    "default_policy",
    "load_policy",
    "neutralise",
    "parse_policy",
    "read_only_policy",
    "report_unusable",
    "untrusted_block",
]
