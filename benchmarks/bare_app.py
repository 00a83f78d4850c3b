"""The floor for benchmarks/ttft_overhead.py: a bare FastAPI app in front of the same model.

    python benchmarks/bare_app.py PORT OPENAI_BASE_URL

One WebSocket endpoint: a `{"text": ...}` frame goes straight to langchain-openai's
`ChatOpenAI.astream`; every token goes back as `{"type": "token"}`, then `{"type": "done"}`.
No storage, queue, agent or events: what is left is the web stack and the model client.
"""

from __future__ import annotations

import json
import sys

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from langchain_openai import ChatOpenAI


def build(base_url: str) -> FastAPI:
    app = FastAPI()
    model = ChatOpenAI(model="gpt-4o-mini", api_key="bench", base_url=base_url, streaming=True)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws")
    async def chat(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                text = json.loads(await ws.receive_text())["text"]
                async for chunk in model.astream([("user", text)]):
                    if chunk.text:
                        await ws.send_text(json.dumps({"type": "token", "text": chunk.text}))
                await ws.send_text(json.dumps({"type": "done"}))
        except WebSocketDisconnect:
            pass

    return app


if __name__ == "__main__":
    uvicorn.run(build(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
