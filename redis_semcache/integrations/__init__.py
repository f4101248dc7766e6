"""Adapters for LLM frameworks and clients; each needs its own extra (``langchain``, ``openai``)."""
