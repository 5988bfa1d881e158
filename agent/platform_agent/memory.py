"""Memory through AgentCore Memory, as Strands hooks.

Short term: every user and assistant message becomes an event of the session; before an invocation
the session's recent events are put back into the conversation, so a new runtime session continues
where the last one stopped.

Long term: the strategies (semantic, summary, user preference) extract records from those events on
the service side. When the user's message arrives, the records nearest to it in this user's
namespaces (``RetrieveMemoryRecords``: the strategies' namespace templates from ``GetMemory``, with
this actor and session filled in) are put into the system prompt, so what was learnt is used.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from strands.hooks import AgentInitializedEvent, HookProvider, HookRegistry, MessageAddedEvent
from strands.types.content import ContentBlock, Message

ROLES = {"user": "USER", "assistant": "ASSISTANT"}
LOGGER = logging.getLogger(__name__)
# CreateEvent takes a conversational text of at most 100,000 characters (botocore's bedrock-agentcore model): a longer
# turn is kept in part rather than failing the user's turn.
MAX_EVENT_TEXT = 100_000


def alternating(history: list[Message]) -> list[Message]:
    """The restored turns as Converse takes them: starting with a user turn, roles alternating, ending with the
    assistant (the new prompt is the next user turn). Stored events need not be: a turn with text and a tool call
    leaves two assistant events, and a model call that failed after the user's event leaves two user turns. Turns
    of one role in a row are joined; a leading assistant turn and a trailing user turn are dropped."""
    merged: list[Message] = []
    for message in history:
        if merged and merged[-1]["role"] == message["role"]:
            joined = "\n".join(block["text"] for turn in (merged[-1], message) for block in turn["content"])
            merged[-1] = Message(role=message["role"], content=[ContentBlock(text=joined)])
        else:
            merged.append(message)
    while merged and merged[0]["role"] != "user":
        merged.pop(0)
    while merged and merged[-1]["role"] != "assistant":
        merged.pop()
    return merged


class LongTermRecall:
    """The records nearest to a query in one user's namespaces of the memory."""

    def __init__(self, data: Any, control: Any, memory_id: str, top_k: int = 3) -> None:
        self.data = data
        self.control = control
        self.memory_id = memory_id
        self.top_k = top_k
        self._templates: list[tuple[str, str]] | None = None

    def namespaces(self, actor_id: str, session_id: str) -> list[str]:
        if self._templates is None:  # the strategies' ids are the service's: read once per container
            strategies = self.control.get_memory(memoryId=self.memory_id)["memory"].get("strategies", [])
            # namespaceTemplates is the current member; namespaces the legacy one (GetMemory, MemoryStrategy).
            self._templates = [
                (s["strategyId"], t)
                for s in strategies
                for t in (s.get("namespaceTemplates") or s.get("namespaces", []))
            ]
        return sorted(
            {
                template.replace("{memoryStrategyId}", strategy)
                .replace("{actorId}", actor_id)
                .replace("{sessionId}", session_id)
                for strategy, template in self._templates
            }
        )

    def recall(self, query: str, actor_id: str, session_id: str) -> list[str]:
        found: list[str] = []
        for namespace in self.namespaces(actor_id, session_id):
            reply = self.data.retrieve_memory_records(
                memoryId=self.memory_id,
                namespace=namespace,
                searchCriteria={"searchQuery": query[:10_000], "topK": self.top_k},
            )
            found += [r["content"]["text"] for r in reply.get("memoryRecordSummaries", []) if "text" in r["content"]]
        return found


class MemoryHooks(HookProvider):
    def __init__(
        self,
        client: Any,
        memory_id: str,
        actor_id: str,
        session_id: str,
        recall: int = 10,
        long_term: LongTermRecall | None = None,
    ) -> None:
        self.client = client
        self.memory_id = memory_id
        self.actor_id = actor_id
        self.session_id = session_id
        self.recall = recall
        self.long_term = long_term
        self._base_prompt: str | None = None

    def register_hooks(self, registry: HookRegistry, **_: Any) -> None:
        registry.add_callback(AgentInitializedEvent, self.restore)
        registry.add_callback(MessageAddedEvent, self.record)

    def restore(self, event: AgentInitializedEvent) -> None:
        response = self.client.list_events(
            memoryId=self.memory_id,
            actorId=self.actor_id,
            sessionId=self.session_id,
            includePayloads=True,
            maxResults=self.recall,
        )
        history: list[Message] = []
        # Events of one turn can share a timestamp: the event id breaks the tie, as they were written.
        for stored in sorted(response.get("events", []), key=lambda e: (e["eventTimestamp"], e.get("eventId", ""))):
            for item in stored.get("payload", []):
                turn = item.get("conversational")
                if turn and turn["role"] in ("USER", "ASSISTANT"):
                    text = [ContentBlock(text=turn["content"]["text"])]
                    if turn["role"] == "USER":
                        history.append(Message(role="user", content=text))
                    else:
                        history.append(Message(role="assistant", content=text))
        event.agent.messages[:0] = alternating(history)
        self._base_prompt = event.agent.system_prompt

    def record(self, event: MessageAddedEvent) -> None:
        message = event.message
        text = "".join(block.get("text", "") for block in message["content"] if "text" in block)
        if not text or message["role"] not in ROLES:
            return  # tool calls and results stay in the runtime session only
        if message["role"] == "user" and self.long_term is not None:
            try:
                remembered = self.long_term.recall(text, self.actor_id, self.session_id)
            except ClientError as error:  # what was learnt helps; its absence must not fail the user's turn
                LOGGER.warning("long-term memory not read: %s", error.response["Error"]["Code"])
                remembered = []
            known = "\n".join(f"- {record}" for record in remembered)
            base = self._base_prompt or ""
            event.agent.system_prompt = f"{base}\n\nWhat you remember about this user:\n{known}" if known else base
        self.client.create_event(
            memoryId=self.memory_id,
            actorId=self.actor_id,
            sessionId=self.session_id,
            eventTimestamp=datetime.now(UTC),
            payload=[{"conversational": {"content": {"text": text[:MAX_EVENT_TEXT]}, "role": ROLES[message["role"]]}}],
        )
