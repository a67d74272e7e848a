"""Offline RAG assistant for the 《技术经济》 symposium on 新质生产力, with speaker citations.

Pipeline, one module per stage:
parse -> chunk -> store (Chroma) -> retrieve -> generate -> grounding -> pipeline (Assistant)
rendered by cli, ui, evaluate and bench. Shared values live in ``types``.
"""

__version__ = "0.14.0"
