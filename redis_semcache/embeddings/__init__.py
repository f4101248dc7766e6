"""Embedders: the protocol, the built-in local model and the embedding cache."""

from .base import Embedder, check_embedder_output, embedder_id
from .builtin import BuiltinEmbedder, default_embedder
from .onnx_runtime import OnnxEmbedder
from .sentence_transformer import DEFAULT_MODEL, SentenceTransformerEmbedder
from .service import EmbeddingService

__all__ = [
    "DEFAULT_MODEL",
    "BuiltinEmbedder",
    "Embedder",
    "EmbeddingService",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "check_embedder_output",
    "default_embedder",
    "embedder_id",
]
