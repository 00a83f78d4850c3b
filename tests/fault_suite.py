"""Fault suite: customers keep writing while the database, Valkey and `serve` itself are killed.

Several widget customers (real WebSockets, resending unconfirmed messages with the same
`client_id` and resuming with `after_seq`, as `widget.js` does) and Telegram customers (long
polling against the fake Bot API) send numbered messages to a real `serve` on the embedded
default, answered by the fake OpenAI-compatible model (which echoes every customer message it
was asked to answer). Meanwhile the embedded database server, the Valkey server and `serve`
are killed (SIGKILL) in turn, and `serve` is started again. Afterwards, from the database:

- every message a customer sent is stored exactly once (lost, doubled);
- every stored customer message is covered by exactly one AI answer — its seq is among the
  ones the answer records as answered and its text is in the answer, so the model saw it
  as the question (answered; unanswered; answered twice);
- every Telegram answer reached the fake Bot API exactly once;
- each widget's resumes delivered exactly what it missed: nothing it already had, nothing
  twice on one socket, and over all its sockets every message of its chat.

Run by hand (prints the figures):  uv run python tests/fault_suite.py --widgets 4 --telegram 3
The test suite runs it small (`tests/test_fault_suite.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets
from pymongo import AsyncMongoClient

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script
    sys.path.insert(0, str(REPO))

from bot.server.embedded import (  # noqa: E402
    KINDS,
    find_server_processes,
    remembered_ports,
    server_password,
    server_uri,
)
from tests.fakes.background import free_port  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, Step, TextReply, _content_text  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

TOKEN = "123456:FAULT-suite"
# widget.js resends an unconfirmed message after a while, with the same client_id.
RESEND_AFTER_S = 3.0


def echo_open_questions(body: dict[str, Any]) -> Step:
    """Answer with every customer message after the last answer: what the model was asked."""
    asked: list[str] = []
    for message in reversed(body.get("messages") or []):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "assistant":
            break
        if role == "user":
            asked.append(_content_text(message.get("content")))
    return TextReply("ok: " + " | ".join(reversed(asked)))


def serve(
    data_dir: Path, port: int, model: FakeOpenAI, telegram: FakeTelegram
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB", "REDIS"))}
    env.pop("PUBLIC_BASE_URL", None)
    env.pop("TELEGRAM_WEBHOOK_SECRET", None)
    env.update(
        DATA_DIR=str(data_dir),
        APP_ENV="dev",
        OPENAI_BASE_URL=model.base_url,
        OPENAI_API_KEY="test",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE=telegram.base_url,
        LOG_LEVEL="ERROR",
        REPLY_DEBOUNCE_MS="100",
        # A lost job (Valkey killed) is found by the sweep after this much silence.
        REPLY_RECLAIM_IDLE_MS="3000",
        WIDGET_MESSAGE_RATE="10000/minute",
        WIDGET_SESSION_RATE="10000/minute",
    )
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    log = open(data_dir.parent / f"serve-{port}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def wait_ready(base: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base}/health/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError("serve did not become ready")


@dataclass
class Resume:
    after_seq: int
    seqs: list[int]


@dataclass
class Sent:
    text: str
    at: float  # wall clock (time.time()), to compare with stored times


class WidgetCustomer:
    """A visitor whose client resends what is unconfirmed and resumes after what it has."""

    def __init__(self, number: int, base: str) -> None:
        self.name = f"w{number}"
        self.base = base
        self.ws_base = base.replace("http://", "ws://")
        self.token = ""
        self.conversation_id = ""
        self.sent: list[Sent] = []
        self.pending: dict[str, str] = {}  # client_id → text, until echoed back
        self.last_sent: dict[str, float] = {}
        self.sockets: list[list[int]] = []  # seqs received, per socket
        self.resumes: list[Resume] = []
        self.max_seq: int | None = None
        self.ws: Any = None
        self.down_since: float | None = None
        self.down_total = 0.0
        self.done = False

    async def open(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            body = (await client.post(f"{self.base}/api/widget/sessions", json={})).json()
        self.token, self.conversation_id = body["token"], body["conversation_id"]

    def _took(self, message: dict[str, Any], socket_seqs: list[int]) -> None:
        seq = int(message["seq"])
        if message.get("author") == "customer" and seq in socket_seqs:
            return  # the confirmation of a resend (the contract sends one per resend)
        socket_seqs.append(seq)
        self.max_seq = seq if self.max_seq is None else max(self.max_seq, seq)
        if message.get("author") == "customer":
            self.pending.pop(message.get("client_id") or "", None)

    async def connection(self) -> None:
        while not self.done:
            url = f"{self.ws_base}/ws/widget?token={self.token}"
            after = self.max_seq
            if after is not None:
                url += f"&after_seq={after}"
            try:
                async with websockets.connect(url, open_timeout=5, close_timeout=1) as ws:
                    history = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    seqs: list[int] = []
                    self.sockets.append(seqs)
                    if after is not None:
                        self.resumes.append(Resume(after, [m["seq"] for m in history["messages"]]))
                    for message in history["messages"]:
                        self._took(message, seqs)
                    if self.down_since is not None:
                        self.down_total += time.monotonic() - self.down_since
                        self.down_since = None
                    self.ws = ws
                    for client_id in list(self.pending):
                        await self._send(client_id)
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame["type"] == "message":
                            self._took(frame["message"], seqs)
                        elif frame["type"] == "status":
                            seqs.append(int(frame["seq"]))
                            self.max_seq = max(self.max_seq or 0, int(frame["seq"]))
            except (OSError, TimeoutError, websockets.WebSocketException, KeyError, ValueError):
                pass
            self.ws = None
            if not self.done and self.down_since is None:
                self.down_since = time.monotonic()
            await asyncio.sleep(0.3)

    async def _send(self, client_id: str) -> None:
        ws = self.ws
        if ws is None or client_id not in self.pending:
            return
        self.last_sent[client_id] = time.monotonic()
        frame = {"type": "message", "text": self.pending[client_id], "client_id": client_id}
        with contextlib.suppress(websockets.WebSocketException, OSError):
            await ws.send(json.dumps(frame))

    async def say(self, number: int) -> None:
        text = f"<{self.name}.{number}>"
        client_id = str(uuid.uuid4())
        self.sent.append(Sent(text, time.time()))
        self.pending[client_id] = text
        await self._send(client_id)

    async def resend_stale(self) -> None:
        """An unconfirmed message (refused while storage was down) is sent again."""
        for client_id in list(self.pending):
            if time.monotonic() - self.last_sent.get(client_id, 0.0) > RESEND_AFTER_S:
                await self._send(client_id)


class TelegramCustomer:
    """A Telegram user; the fake Bot API holds their updates until `serve` confirms them."""

    update_ids = itertools.count(1)

    def __init__(self, number: int, telegram: FakeTelegram) -> None:
        self.name = f"t{number}"
        self.user_id = 900_000 + number
        self.telegram = telegram
        self.sent: list[Sent] = []

    def say(self, number: int) -> None:
        text = f"<{self.name}.{number}>"
        who = {"id": self.user_id, "is_bot": False, "first_name": self.name, "language_code": "en"}
        self.sent.append(Sent(text, time.time()))
        self.telegram.push_update(
            {
                "update_id": next(self.update_ids),
                "message": {
                    "message_id": number,
                    "from": who,
                    "chat": {"id": self.user_id, "type": "private", "first_name": self.name},
                    "date": int(time.time()),
                    "text": text,
                },
            }
        )


@dataclass
class Report:
    sent: int = 0
    stored: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    answered: int = 0
    unanswered: list[str] = field(default_factory=list)
    answered_twice: list[str] = field(default_factory=list)
    answered_without_text: list[str] = field(default_factory=list)
    telegram_answers: int = 0
    telegram_not_sent_once: list[str] = field(default_factory=list)
    resumes: int = 0
    resume_repeated: int = 0
    socket_doubled: int = 0
    widget_missed: int = 0
    longest_wait_s: float = 0.0
    widget_down_s: float = 0.0
    phases: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.doubled
            or self.unanswered
            or self.answered_twice
            or self.answered_without_text
            or self.telegram_not_sent_once
            or self.resume_repeated
            or self.socket_doubled
            or self.widget_missed
        )

    def lines(self) -> list[str]:
        return [
            f"sent {self.sent}, stored {self.stored}, answered {self.answered}, "
            f"lost {len(self.lost)}, doubled {len(self.doubled)}",
            f"unanswered {len(self.unanswered)}, answered twice {len(self.answered_twice)}, "
            f"answer without the message's text {len(self.answered_without_text)}",
            f"telegram answers {self.telegram_answers}, not sent exactly once "
            f"{len(self.telegram_not_sent_once)}",
            f"widget resumes {self.resumes}: repeated {self.resume_repeated}, doubled on a "
            f"socket {self.socket_doubled}, missed {self.widget_missed}",
            f"outage seen by clients: longest wait for an answer {self.longest_wait_s:.1f} s, "
            f"widget sockets down {self.widget_down_s:.1f} s (summed over widgets)",
            "faults: " + ", ".join(self.phases),
        ]


def _mongo(data_dir: Path) -> AsyncMongoClient[dict[str, Any]]:
    """A client of the installation's embedded database, with its generated credentials."""
    port = remembered_ports(data_dir)["mongo"]
    uri = server_uri("mongo", port, server_password(data_dir, "mongo"))
    return AsyncMongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000)


async def check(
    data_dir: Path,
    widgets: list[WidgetCustomer],
    telegrams: list[TelegramCustomer],
    telegram: FakeTelegram,
    report: Report,
) -> bool:
    """Fill `report` from the database; True when every message is stored and answered."""
    client = _mongo(data_dir)
    try:
        db = client["switchboard"]
        customer = await db.messages.find({"author": "customer"}).to_list(None)
        answers = await db.messages.find({"author": "ai"}).to_list(None)
        chats = {
            c["_id"]: c["external_chat_id"]
            for c in await db.conversations.find({}, {"external_chat_id": 1}).to_list(None)
        }
    finally:
        await client.close()
    sent = [s for c in [*widgets, *telegrams] for s in c.sent]
    stored = Counter(m["text"] for m in customer)
    report.sent, report.stored = len(sent), len(customer)
    report.lost = [s.text for s in sent if s.text not in stored]
    report.doubled = [text for text, n in stored.items() if n > 1]
    by_conversation: dict[Any, list[dict[str, Any]]] = {}
    for answer in answers:
        by_conversation.setdefault(answer["conversation_id"], []).append(answer)
    sent_at = {s.text: s.at for s in sent}
    report.answered, report.unanswered, report.answered_twice = 0, [], []
    report.answered_without_text, waits = [], [0.0]
    for message in customer:
        covering = [
            a
            for a in by_conversation.get(message["conversation_id"], [])
            if message["seq"] in (a.get("meta") or {}).get("answers", [])
        ]
        if not covering:
            report.unanswered.append(message["text"])
        elif len(covering) > 1:
            report.answered_twice.append(message["text"])
        elif message["text"] not in covering[0]["text"]:
            report.answered_without_text.append(message["text"])
        else:
            report.answered += 1
            answered_at: datetime = covering[0]["created_at"]
            waits.append(answered_at.timestamp() - sent_at.get(message["text"], time.time()))
    report.longest_wait_s = max(waits)
    report.telegram_answers, report.telegram_not_sent_once = 0, []
    for answer in answers:
        if answer["channel"] != "telegram":
            continue
        report.telegram_answers += 1
        chat = chats.get(answer["conversation_id"])
        texts = telegram.sent_to(chat) if chat else []
        if texts.count(answer["text"]) != 1:
            report.telegram_not_sent_once.append(answer["text"])
    return not (report.lost or report.unanswered)


async def widget_checks(data_dir: Path, widgets: list[WidgetCustomer], report: Report) -> None:
    client = _mongo(data_dir)
    try:
        db = client["switchboard"]
        for widget in widgets:
            from bson import ObjectId

            rows = await db.messages.find(
                {"conversation_id": ObjectId(widget.conversation_id)}, {"seq": 1}
            ).to_list(None)
            changes = await db.mode_changes.find(
                {"conversation_id": ObjectId(widget.conversation_id)}, {"seq": 1}
            ).to_list(None)
            everything = {r["seq"] for r in rows} | {c["seq"] for c in changes}
            received = {seq for socket in widget.sockets for seq in socket}
            report.widget_missed += len(everything - received)
            report.socket_doubled += sum(len(s) - len(set(s)) for s in widget.sockets)
            for socket in widget.sockets:
                repeated = [seq for seq, n in Counter(socket).items() if n > 1]
                if repeated:
                    report.notes.append(
                        f"{widget.name} socket repeated {repeated[:8]} of {socket[:40]}"
                    )
            report.resumes += len(widget.resumes)
            report.resume_repeated += sum(
                1 for r in widget.resumes for seq in r.seqs if seq <= r.after_seq
            )
            report.widget_down_s += widget.down_total
    finally:
        await client.close()


def kill_server(kind: str, data_dir: Path) -> int:
    pids = find_server_processes(kind, data_dir)  # type: ignore[arg-type]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return len(pids)


async def run(
    *,
    widgets: int = 3,
    telegram_users: int = 2,
    interval: float = 1.0,
    settle: float = 4.0,
    work_dir: Path,
) -> Report:
    """The whole run; returns the figures (see `Report.lines`)."""
    data_dir = work_dir / "data"
    report = Report()
    with FakeOpenAI(default=echo_open_questions) as model, FakeTelegram(TOKEN) as telegram:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = serve(data_dir, port, model, telegram)
        try:
            await wait_ready(base)
            web = [WidgetCustomer(n, base) for n in range(1, widgets + 1)]
            tg = [TelegramCustomer(n, telegram) for n in range(1, telegram_users + 1)]
            for widget in web:
                await widget.open()
            connections = [asyncio.create_task(w.connection()) for w in web]
            stop_sending = asyncio.Event()

            async def traffic() -> None:
                for number in itertools.count(1):
                    if stop_sending.is_set():
                        return
                    for widget in web:
                        await widget.say(number)
                    for user in tg:
                        user.say(number)
                    if number % 3 == 0:
                        for widget in web:
                            await widget.resend_stale()
                    await asyncio.sleep(interval)

            sender = asyncio.create_task(traffic())
            t0 = time.monotonic()

            def mark(what: str) -> None:
                report.phases.append(f"{what} at {time.monotonic() - t0:.0f} s")

            await asyncio.sleep(settle)
            for kind in ("mongo", "valkey"):
                assert kind in KINDS
                killed = kill_server(kind, data_dir)
                mark(f"{kind} killed ({killed})")
                await asyncio.sleep(1.0)
                await wait_ready(base)
                mark("ready")
                await asyncio.sleep(settle)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            mark("serve killed")
            await asyncio.sleep(1.0)
            process = serve(data_dir, port, model, telegram)
            await wait_ready(base)
            mark("ready")
            await asyncio.sleep(settle)
            stop_sending.set()
            await sender
            mark("sending stopped")
            # Everything sent gets stored and answered; give the sweeps their time.
            deadline = time.monotonic() + 90
            while True:
                for widget in web:
                    await widget.resend_stale()
                with contextlib.suppress(Exception):
                    if await check(data_dir, web, tg, telegram, report) and all(
                        not w.pending for w in web
                    ):
                        break
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(1.0)
            mark("all answered")
            await asyncio.sleep(2.0)  # the last answers' frames reach the sockets
            await check(data_dir, web, tg, telegram, report)
            await widget_checks(data_dir, web, report)
            for widget in web:
                widget.done = True
                if widget.ws is not None:
                    with contextlib.suppress(Exception):
                        await widget.ws.close()
            for task in connections:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            for kind in KINDS:
                with contextlib.suppress(OSError):
                    kill_server(kind, data_dir)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--widgets", type=int, default=4)
    parser.add_argument("--telegram", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between messages")
    parser.add_argument("--settle", type=float, default=6.0, help="traffic between faults (s)")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sb-fault-") as tmp:
        work = args.work_dir or Path(tmp)
        started = datetime.now(UTC)
        report = asyncio.run(
            run(
                widgets=args.widgets,
                telegram_users=args.telegram,
                interval=args.interval,
                settle=args.settle,
                work_dir=work,
            )
        )
    for line in report.lines():
        print(line)
    print(f"took {(datetime.now(UTC) - started).total_seconds():.0f} s; ok: {report.ok}")
    if not report.ok:
        print("lost", report.lost[:10], "doubled", report.doubled[:10])
        print("unanswered", report.unanswered[:10], "twice", report.answered_twice[:10])
        print("without text", report.answered_without_text[:10])
        print("telegram not once", report.telegram_not_sent_once[:10])
        print("\n".join(report.notes[:6]))
        sys.exit(1)


if __name__ == "__main__":
    main()
