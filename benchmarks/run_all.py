"""Every benchmark in one run, one table of ratios against same-run baselines.

    uv run python -m benchmarks [--quick] [--only ttft,sockets,...] [--before-ref main]

Each benchmark runs with its own baseline in the same run (see its module's docstring) and
prints its own report; the table at the end holds, per measured figure: ours, the
baseline's, their ratio, the target and whether it is met. Sizes are chosen to finish in
about a quarter of an hour on 2 shared cores; each module's own command line runs larger.

- `ttft`: benchmarks/ttft_overhead.py — a widget message to the first visible token, through
  `serve` at its default settings with a streaming model (50 ms to first token), against a
  bare FastAPI app relaying ChatOpenAI's stream; with `--before-ref`, also the platform as
  committed at that ref, at its default settings.
- `guardrails`: benchmarks/guardrail_latency.py — input + output stages per message, against
  the query embedding and plain streaming a reply costs anyway.
- `rag`: benchmarks/rag_retrieval.py at 10k chunks (`--rag-sizes 100000` for 100k: the store
  takes several minutes to build) — `KnowledgeBase.search` with HNSW against numpy brute force.
- `sockets`: benchmarks/socket_memory.py — memory per widget socket against a bare socket.
- `ingest`: benchmarks/ingest.py when it exists (webhook ingest against a bare endpoint).
- `knowledge`: benchmarks/knowledge_throughput.py — knowledge answers/s with many widget
  customers at once (200; `--quick` 20), against the query embedders' own queries/s, and
  the customers' p95 wait; the last round is the one in the table (the first includes
  the cold start), every round is in its own report.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import math
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass
class Row:
    """One figure of the table."""

    name: str
    ours: float
    baseline: float | None
    unit: str
    target: str
    met: bool | None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.ours / self.baseline


def _num(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.1f} {unit}".strip()


def render(rows: list[Row], notes: list[str]) -> str:
    header = ("benchmark", "ours", "baseline", "ratio", "target", "met?")
    table = [header]
    for row in rows:
        ratio = row.ratio
        table.append(
            (
                row.name,
                _num(row.ours, row.unit),
                _num(row.baseline, row.unit),
                "—" if ratio is None else f"{ratio:.2f}×",
                row.target,
                "—" if row.met is None else ("yes" if row.met else "NO"),
            )
        )
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    out = []
    for n, line in enumerate(table):
        out.append("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(line)))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    out.extend(f"note: {note}" for note in notes)
    return "\n".join(out)


# --- each benchmark as rows ----------------------------------------------------------------


async def ttft_rows(args: argparse.Namespace) -> list[Row]:
    from benchmarks import ttft_overhead as ttft

    results = await ttft.measure(args.ttft_runs, 50.0, 200.0, args.before_ref)
    ttft.report(results.platform, results.bare, results.first_token_ms)
    bare = ttft.widget_ttft(results.bare)
    rows: list[Row] = []
    measured = [("", results.platform)]
    if results.before is not None:
        measured.append((f" ({args.before_ref}, before)", results.before))
    for label, timing in measured:
        ours = ttft.widget_ttft(timing)
        for q, limit in ((0.5, 15.0), (0.99, 30.0)):
            mine, floor = ttft.pct(ours, q), ttft.pct(bare, q)
            rows.append(
                Row(
                    f"first visible token p{q * 100:.0f}{label}",
                    mine,
                    floor,
                    "ms",
                    f"≤ bare + {limit:.0f} ms",
                    mine - floor <= limit,
                )
            )
    rows.append(
        Row("first token, first message after start-up", results.cold_ms, None, "ms", "", None)
    )
    rows.append(
        Row(
            "  of it the model's own TTFT (p50)",
            ttft.pct(results.platform.model, 0.5),
            None,
            "ms",
            "",
            None,
        )
    )
    return rows


async def guardrail_rows(args: argparse.Namespace) -> list[Row]:
    from benchmarks import guardrail_latency

    floor, added = await guardrail_latency.main(args.guardrail_rounds)

    def ms(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return [
        Row("guardrails added per message p50", ms(added, 0.5), ms(floor, 0.5), "ms", "", None),
        Row(
            "guardrails added per message p99",
            ms(added, 0.99),
            ms(floor, 0.99),
            "ms",
            "≤ 10 ms",
            ms(added, 0.99) <= 10,
        ),
    ]


async def rag_rows(args: argparse.Namespace) -> list[Row]:
    from benchmarks import rag_retrieval as rag

    options = rag.options(args.rag_sizes, args.rag_queries)
    options.quiet = -1.0  # as measured: re-measuring busy blocks can take long here
    rows: list[Row] = []
    for result in await rag.measure(options):
        n = result["chunks"]
        e2e, brute = result["search_end_to_end"].kept, result["brute_force_end_to_end"].kept
        for q in (50, 99):
            rows.append(
                Row(
                    f"KB search at {n:,} chunks p{q} (vs numpy exact)",
                    rag.pct(e2e, q),
                    rag.pct(brute, q),
                    "ms",
                    "",
                    None,
                )
            )
        rows.append(
            Row(
                f"  of it query embeddings p50 ({n:,})",
                rag.pct(result["embedding_in_search"], 50),
                None,
                "ms",
                "",
                None,
            )
        )
    return rows


async def socket_rows(args: argparse.Namespace) -> list[Row]:
    from benchmarks import socket_memory

    result = await socket_memory.measure(args.sockets)
    print(f"sockets: {result.sockets}: ours {result.ours_kb:.1f} KB, bare {result.bare_kb:.1f} KB")
    ratio = result.ours_kb / result.bare_kb if result.bare_kb > 0 else math.inf
    return [
        Row(
            f"memory per widget socket ({result.sockets:,} open)",
            result.ours_kb,
            result.bare_kb,
            "KB",
            "≤ 1.5× bare",
            ratio <= 1.5,
        )
    ]


async def ingest_rows(args: argparse.Namespace) -> list[Row]:
    """benchmarks/ingest.py's rows: its `table_rows(quick)` returns dicts with the keys of `Row`."""
    if not (ROOT / "benchmarks" / "ingest.py").exists():
        raise Skipped("benchmarks/ingest.py is not there (issue 23, item 1): ingest not measured")
    module = importlib.import_module("benchmarks.ingest")
    table_rows = getattr(module, "table_rows", None)
    if table_rows is None:
        # No table interface: run it as its own command and show its report.
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "benchmarks" / "ingest.py"), cwd=ROOT
        )
        await process.wait()
        raise Skipped("benchmarks/ingest.py has no table_rows(); its own report is above")
    found: list[dict[str, Any]] = await table_rows(args.quick)
    return [Row(**row) for row in found]


async def knowledge_rows(args: argparse.Namespace) -> list[Row]:
    from benchmarks import knowledge_throughput as kt

    results = await kt.measure(args.customers, args.knowledge_rounds)
    kt.report(results)
    last = results.rounds[-1]
    p95 = kt.pct(last.waits, 0.95)
    return [
        Row(
            f"knowledge answers/s, {results.customers} customers at once (last round)",
            last.rate,
            results.embedder_qps,
            "/s",
            "≥ 0.7× embedders",
            last.rate >= 0.7 * results.embedder_qps,
        ),
        Row(f"  p95 wait of the {results.customers}", p95, None, "s", "≤ 5 s", p95 <= 5.0),
    ]


class Skipped(Exception):
    """A benchmark that cannot run here; the reason goes under the table."""


BENCHMARKS: dict[str, Callable[[argparse.Namespace], Awaitable[list[Row]]]] = {
    "ttft": ttft_rows,
    "guardrails": guardrail_rows,
    "rag": rag_rows,
    "sockets": socket_rows,
    "ingest": ingest_rows,
    "knowledge": knowledge_rows,
}


async def run(args: argparse.Namespace) -> str:
    rows: list[Row] = []
    notes: list[str] = []
    chosen = args.only.split(",") if args.only else list(BENCHMARKS)
    for name in chosen:
        print(f"\n===== {name} =====", flush=True)
        started = time.perf_counter()
        try:
            rows += await BENCHMARKS[name](args)
        except Skipped as exc:
            notes.append(f"{name}: {exc}")
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            traceback.print_exc()
            notes.append(f"{name}: failed ({type(exc).__name__}: {exc})"[:300])
        print(f"({name}: {time.perf_counter() - started:.0f} s)", flush=True)
    return render(rows, notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default="", help=f"comma-separated: {','.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    parser.add_argument("--before-ref", default=None, help="TTFT of the platform at this ref too")
    parser.add_argument("--ttft-runs", type=int, default=None)
    parser.add_argument("--guardrail-rounds", type=int, default=None)
    parser.add_argument("--rag-sizes", type=int, nargs="+", default=None)
    parser.add_argument("--rag-queries", type=int, default=None)
    parser.add_argument("--sockets", type=int, default=None)
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--knowledge-rounds", type=int, default=None)
    args = parser.parse_args()
    quick = args.quick
    defaults = {
        "ttft_runs": 40 if quick else 200,
        "guardrail_rounds": 2 if quick else 5,
        "rag_sizes": [2_000] if quick else [10_000],
        "rag_queries": 60 if quick else 200,
        "sockets": 200 if quick else 1_000,
        "customers": 20 if quick else 200,
        "knowledge_rounds": 2 if quick else 3,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    table = asyncio.run(run(args))
    print("\n" + table)


if __name__ == "__main__":
    main()
