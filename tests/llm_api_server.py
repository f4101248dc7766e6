"""One local server with the three LLM APIs the README's examples call: OpenAI chat completions
(as tests/openai_server.py), the Responses API (tests/responses_server.py) and Anthropic's Messages
API (tests/anthropic_server.py).  Point OPENAI_BASE_URL at ``openai_base_url`` and
ANTHROPIC_BASE_URL at ``base_url``."""

from __future__ import annotations

from typing import ClassVar

from .anthropic_server import messages_route
from .counting_server import CountingServer, Route
from .openai_server import chat_route
from .responses_server import responses_route


class LLMAPIServer(CountingServer):
    routes: ClassVar[dict[str, Route]] = {
        "/v1/chat/completions": chat_route,
        "/v1/responses": responses_route,
        "/v1/messages": messages_route,
    }

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"
