"""Short-term memory through AgentCore Memory events, as Strands hooks.

Every user and assistant message becomes an event of the session; before an invocation
the session's recent events are put back into the conversation, so a new runtime session
continues where the last one stopped. Long-term strategies (semantic, summary, user
preference) extract from these same events on the service side.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from strands.hooks import AgentInitializedEvent, HookProvider, HookRegistry, MessageAddedEvent
from strands.types.content import ContentBlock, Message

ROLES = {"user": "USER", "assistant": "ASSISTANT"}


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


class MemoryHooks(HookProvider):
    def __init__(self, client: Any, memory_id: str, actor_id: str, session_id: str, recall: int = 10) -> None:
        self.client = client
        self.memory_id = memory_id
        self.actor_id = actor_id
        self.session_id = session_id
        self.recall = recall

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
        for stored in sorted(response.get("events", []), key=lambda e: e["eventTimestamp"]):
            for item in stored.get("payload", []):
                turn = item.get("conversational")
                if turn and turn["role"] in ("USER", "ASSISTANT"):
                    text = [ContentBlock(text=turn["content"]["text"])]
                    if turn["role"] == "USER":
                        history.append(Message(role="user", content=text))
                    else:
                        history.append(Message(role="assistant", content=text))
        event.agent.messages[:0] = alternating(history)

    def record(self, event: MessageAddedEvent) -> None:
        message = event.message
        text = "".join(block.get("text", "") for block in message["content"] if "text" in block)
        if not text or message["role"] not in ROLES:
            return  # tool calls and results stay in the runtime session only
        self.client.create_event(
            memoryId=self.memory_id,
            actorId=self.actor_id,
            sessionId=self.session_id,
            eventTimestamp=datetime.now(UTC),
            payload=[{"conversational": {"content": {"text": text}, "role": ROLES[message["role"]]}}],
        )
