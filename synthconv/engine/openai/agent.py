"""The OpenAI engines' agent: a RoleAgent that can end the call with the end_call tool, and
says nothing more once the peer has said goodbye."""

from __future__ import annotations

from livekit.agents import Agent, StopResponse, function_tool, llm

from ..base import Speaker
from ..session import RoleAgent
from .prompt import instructions_for


class OpenAIRoleAgent(RoleAgent):
    """The role agent with the end_call tool, and silence once the peer has said goodbye."""

    def __init__(self, speaker: Speaker) -> None:
        super().__init__(instructions_for(speaker), opens=speaker.role == speaker.scenario.first_speaker,
                         peer_ready=speaker.peer_ready)
        self._speaker = speaker
        self._goodbye_in_stream = False  # the LLM said its goodbye together with end_call

    @function_tool
    async def end_call(self) -> str | None:
        """End the phone call. Call this once the goal of the call is met and the conversation is
        wrapping up (or it clearly cannot go anywhere); then say your short goodbye. The call ends
        after that goodbye has been heard."""
        call = self._speaker.call
        if call.ending_role not in (None, self._speaker.role):
            return None  # the other side already said goodbye: nothing more to say
        if self._goodbye_in_stream:
            return None  # the goodbye came with this call and was already the last line
        call.end_after_turn(self._speaker.role)
        return "The call ends after your next line: say a short goodbye now, nothing more."

    async def on_user_turn_completed(self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage) -> None:
        if self._speaker.call.ending_role not in (None, self._speaker.role):
            raise StopResponse()  # the peer said its goodbye: the call is over, no reply

    async def llm_node(self, chat_ctx, tools, model_settings):  # noqa: ANN001, ANN201
        """The LLM's stream, watched for an end_call that comes with words in the same response
        (some models say goodbye and call the tool at once): then that goodbye is the last line,
        so the call is marked as ending before its audio is out."""
        spoke = False
        async for chunk in Agent.default.llm_node(self, chat_ctx, tools, model_settings):
            if isinstance(chunk, str):
                spoke = spoke or bool(chunk.strip())
            elif isinstance(chunk, llm.ChatChunk) and chunk.delta is not None:
                spoke = spoke or bool((chunk.delta.content or "").strip())
                calls = chunk.delta.tool_calls or []
                if spoke and any(c.name == "end_call" for c in calls) and self._speaker.call.ending_role is None:
                    self._speaker.call.end_after_turn(self._speaker.role)
                    self._goodbye_in_stream = True
            yield chunk
