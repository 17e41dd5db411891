"""How open supervision orders (督办) colour the issue dimension, without I/O: the rule version decides the colour,
a closed order counts no more, an order past its deadline at the moment judged says so, a worse colour stays."""

from __future__ import annotations

from datetime import UTC, datetime

from services.scheduling.domain_supervision import KnownOrder, with_open_orders
from shared.catalogue.scheduling import Colour, DimensionLight, Rules

AT = datetime(2024, 1, 22, 2, tzinfo=UTC)  # 2024-01-22 10:00 China time


def known(order_id: str, status: str, deadline: datetime) -> KnownOrder:
    return KnownOrder(id=order_id, project_id="p1", target_unit_id="unit-b", subject=f"督办{order_id}",
                      deadline=deadline, status=status, last_changed_at=AT)  # fmt: skip


def test_open_orders_take_the_rule_colour_and_are_named() -> None:
    overdue = known("sup-1", "rectifying", datetime(2024, 1, 20, 10, tzinfo=UTC))
    due = known("sup-2", "issued", datetime(2024, 2, 1, 10, tzinfo=UTC))
    closed = known("sup-3", "closed", datetime(2024, 1, 1, 10, tzinfo=UTC))
    green = DimensionLight(colour=Colour.GREEN)

    found = with_open_orders(green, [due, closed, overdue], Rules(supervision_order_open_colour=Colour.YELLOW), AT)

    assert found.colour == Colour.YELLOW
    assert found.reasons == [
        "督办单「督办sup-1」(sup-1)整改中,尚未办结,办结期限 2024-01-20 18:00,已逾期",
        "督办单「督办sup-2」(sup-2)待报整改方案,尚未办结,办结期限 2024-02-01 18:00",
    ]
    assert with_open_orders(green, [closed], Rules(), AT) == green
    red = DimensionLight(colour=Colour.RED, reasons=["问题已上报"])
    kept = with_open_orders(red, [due], Rules(supervision_order_open_colour=Colour.YELLOW), AT)
    assert kept.colour == Colour.RED and kept.reasons[0] == "问题已上报"
