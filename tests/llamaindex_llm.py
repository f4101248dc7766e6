"""A real LlamaIndex LLM (a ``CustomLLM``) that talks to an OpenAI-compatible server over HTTP.

Used with tests/openai_server.py, which counts the calls.  It is an LLM
implementation, not a mock: chat and completion requests go over the wire as
``POST /chat/completions`` (sync with httpx.Client, async with httpx.AsyncClient),
and ``stream_complete`` reads the server's SSE stream.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback


class LocalChatLLM(CustomLLM):
    base_url: str
    model: str = "local-model"
    temperature: float = 0.0
    max_tokens: int = 256
    api_key: str = "secret-key-1"  # never part of a cache scope

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model, is_chat_model=True, num_output=self.max_tokens)

    def _body(self, messages: list[dict[str, Any]], stream: bool = False, **kwargs: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens, "stream": stream, **kwargs}  # fmt: skip

    @staticmethod
    def _wire(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
        return [{"role": m.role.value, "content": m.content} for m in messages]

    @staticmethod
    def _answer(reply: httpx.Response) -> str:
        reply.raise_for_status()
        return str(reply.json()["choices"][0]["message"]["content"])

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        reply = httpx.post(f"{self.base_url}/chat/completions", json=self._body(self._wire(messages), **kwargs))
        return ChatResponse(message=ChatMessage(role="assistant", content=self._answer(reply)), raw=reply.json())

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        async with httpx.AsyncClient() as client:
            reply = await client.post(
                f"{self.base_url}/chat/completions", json=self._body(self._wire(messages), **kwargs)
            )
        return ChatResponse(message=ChatMessage(role="assistant", content=self._answer(reply)), raw=reply.json())

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        body = self._body([{"role": "user", "content": prompt}], **kwargs)
        return CompletionResponse(text=self._answer(httpx.post(f"{self.base_url}/chat/completions", json=body)))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        async with httpx.AsyncClient() as client:
            body = self._body([{"role": "user", "content": prompt}], **kwargs)
            return CompletionResponse(
                text=self._answer(await client.post(f"{self.base_url}/chat/completions", json=body))
            )

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        body = self._body([{"role": "user", "content": prompt}], stream=True, **kwargs)

        def gen() -> CompletionResponseGen:
            text = ""
            with httpx.stream("POST", f"{self.base_url}/chat/completions", json=body) as reply:
                for line in reply.iter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    choices = json.loads(line[len("data: ") :])["choices"]
                    delta = (choices[0]["delta"].get("content") or "") if choices else ""
                    text += delta
                    yield CompletionResponse(text=text, delta=delta)

        return gen()
