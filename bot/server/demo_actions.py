"""A demo order service for the example HTTP action (``config/actions/order_status.json``).

DEMO ONLY: fixed, fake orders so the ``order_status`` action can be tried on a laptop
without a real shop behind it. Mount it with ``app.include_router(demo_router)``; point a
real action file at your own order system in production.

- ``GET /demo/orders/A-1001`` → shipped, with a tracking number;
- ``GET /demo/orders/A-1002`` → processing;
- ``GET /demo/orders/A-1003`` → delivered;
- any other id → 404 ``{"detail": "order not found"}``.

Each answer also carries fields the action does not expose (an internal note, the
warehouse, the payment reference): the action's ``expose`` list keeps them from the model.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

DEMO_ORDERS: dict[str, dict[str, Any]] = {
    "A-1001": {
        "order_id": "A-1001",
        "status": "shipped",
        "placed_at": "2025-01-10T09:30:00Z",
        "estimated_delivery": "2025-01-14",
        "tracking": {
            "carrier": "DemoPost",
            "number": "DP123456789",
            "url": "https://tracking.example.com/DP123456789",
        },
        "items": [
            {"name": "Blue mug", "quantity": 2, "sku": "MUG-BLUE"},
            {"name": "Tea sampler", "quantity": 1, "sku": "TEA-SMP"},
        ],
        "internal_note": "customer called twice about packaging",
        "warehouse": "WH-EAST-3",
        "payment": {"reference": "PAY-998877", "card_last4": "4242"},
    },
    "A-1002": {
        "order_id": "A-1002",
        "status": "processing",
        "placed_at": "2025-01-12T15:02:00Z",
        "estimated_delivery": "2025-01-18",
        "tracking": None,
        "items": [{"name": "Green teapot", "quantity": 1, "sku": "POT-GRN"}],
        "internal_note": "waiting for stock",
        "warehouse": "WH-WEST-1",
        "payment": {"reference": "PAY-112233", "card_last4": "0005"},
    },
    "A-1003": {
        "order_id": "A-1003",
        "status": "delivered",
        "placed_at": "2024-12-20T11:00:00Z",
        "estimated_delivery": "2024-12-23",
        "tracking": {
            "carrier": "DemoPost",
            "number": "DP000111222",
            "url": "https://tracking.example.com/DP000111222",
        },
        "items": [{"name": "Gift card", "quantity": 1, "sku": "GIFT-25"}],
        "internal_note": "",
        "warehouse": "WH-EAST-3",
        "payment": {"reference": "PAY-445566", "card_last4": "1881"},
    },
}

demo_router = APIRouter(prefix="/demo", tags=["demo"])


@demo_router.get("/orders/{order_id}")
async def demo_order_status(
    order_id: str,
    customer: str | None = Query(default=None, description="who asks (echoed back)"),
    x_demo_channel: str | None = Header(default=None),
) -> JSONResponse:
    """DEMO: the status of a fake order (see the module docstring for the ids)."""
    order = DEMO_ORDERS.get(order_id)
    if order is None:
        return JSONResponse({"detail": "order not found", "order_id": order_id}, status_code=404)
    return JSONResponse({**order, "requested_by": customer, "requested_via": x_demo_channel})
