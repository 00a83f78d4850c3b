"""Knowledge base: loading, chunking, embedding, vector stores, cached retrieval, ingestion.

The public surface (what `bot` uses):

    kb = KnowledgeBase.open(settings, redis=redis_client)      # Chroma or Weaviate by settings
    report = await ingest("docs/faq", kb=kb)                    # or await kb.ingest(...)
    hits = await kb.search("how long is delivery?", k=5)        # [] → "I do not know"
    kb.list_documents(); await kb.delete_document(doc_id)
"""

from rag.ingest import IngestReport, ingest
from rag.kb import Hit, KnowledgeBase, normalize_query, unique_sources
from rag.registry import DocumentRecord
from rag.settings import KBSettings

__all__ = [
    "DocumentRecord",
    "Hit",
    "IngestReport",
    "KBSettings",
    "KnowledgeBase",
    "ingest",
    "normalize_query",
    "unique_sources",
]
