"""Embedders: the protocol, the built-in local model and the embedding cache."""

from .base import Embedder, check_embedder_output, embedder_id
from .sentence_transformer import DEFAULT_MODEL, SentenceTransformerEmbedder, default_embedder
from .service import EmbeddingService

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "EmbeddingService",
    "SentenceTransformerEmbedder",
    "check_embedder_output",
    "default_embedder",
    "embedder_id",
]
