"""Invoice arithmetic: the money path from tracked time to totals, kept pure so it can be property-tested.

Everything here works on plain values (dates, datetimes, Decimals); the API and storage
layers load sessions, projects and clients and hand them in. Decisions (SPEC section 4,
"Invoices", and section 7, line items):

- The billing window is ``[period_start 00:00Z, period_end + 1 day 00:00Z)``: the end
  date is billed in full and the window is half-open, so a span ending exactly at the
  window's start bills nothing.
- Running spans (no end) are never billed. Every other span is clipped to the window;
  time outside it never reaches an invoice.
- ``add`` sums a project's clipped spans (overlapping time counts once per span);
  ``merge`` bills the length of their union (overlapping time counts once).
- Rate: the project's, else the client's, else 0.
- Rounding is half-up to the cent, twice and only twice: once per line
  (``seconds × rate / 3600``) and once for the tax (``subtotal × tax_rate / 100``).
  The subtotal is the sum of the already rounded lines and the total is
  ``subtotal + tax_amount``, so the numbers on an invoice always add up.
  Arithmetic is Decimal throughout, never float.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, localcontext
from typing import Iterable, Literal, Sequence

from chalicelib.domain.money import ZERO, format_money, round_half_up
from chalicelib.domain.timestamps import to_utc
from chalicelib.domain.vocabulary import OVERLAP_STRATEGIES

Strategy = Literal["add", "merge"]
SECONDS_PER_HOUR = 3600
DUE_AFTER = timedelta(days=15)


@dataclass(frozen=True)
class BillingWindow:
    """A half-open UTC interval ``[start, end)``."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


@dataclass(frozen=True)
class TrackedSpan:
    """One session's time on a project; ``end`` is ``None`` while it is running."""

    project_id: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class ProjectRate:
    """A project to bill, with its own and its client's hourly rate (either may be unset)."""

    project_id: str
    project_name: str
    project_rate: Decimal | None
    client_rate: Decimal | None

    @property
    def rate(self) -> Decimal:
        if self.project_rate is not None:
            return round_half_up(Decimal(self.project_rate))
        if self.client_rate is not None:
            return round_half_up(Decimal(self.client_rate))
        return ZERO


@dataclass(frozen=True)
class LineItem:
    project_id: str
    project_name: str
    seconds: int
    hours: Decimal
    rate: Decimal
    amount: Decimal

    def to_dict(self) -> dict:
        return {
            "project_id": self.project_id,
            "project_name": self.project_name,
            "seconds": self.seconds,
            "hours": format_money(self.hours),
            "rate": format_money(self.rate),
            "amount": format_money(self.amount),
        }


@dataclass(frozen=True)
class InvoiceTotals:
    subtotal: Decimal
    tax_amount: Decimal
    total: Decimal

    def to_dict(self) -> dict:
        return {
            "subtotal": format_money(self.subtotal),
            "tax_amount": format_money(self.tax_amount),
            "total": format_money(self.total),
        }


def billing_window(period_start: date, period_end: date) -> BillingWindow:
    """``[period_start 00:00Z, period_end + 1 day 00:00Z)``."""
    if period_end < period_start:
        raise ValueError("period_end must not be before period_start")
    start = datetime.combine(period_start, time(0), tzinfo=timezone.utc)
    if period_end == date.max:  # the day after is not representable: end at the last instant
        return BillingWindow(start=start, end=datetime.max.replace(tzinfo=timezone.utc))
    return BillingWindow(
        start=start,
        end=datetime.combine(period_end + timedelta(days=1), time(0), tzinfo=timezone.utc),
    )


def _clipped(spans: Iterable[TrackedSpan], window: BillingWindow) -> list[tuple[datetime, datetime]]:
    """Closed spans cut to the window; spans with nothing inside it are dropped."""
    clipped = []
    for span in spans:
        if span.end is None:
            continue  # running: not billed
        start = max(to_utc(span.start), window.start)
        end = min(to_utc(span.end), window.end)
        if end > start:
            clipped.append((start, end))
    return clipped


def _union_seconds(intervals: list[tuple[datetime, datetime]]) -> int:
    """Sweep in start order, counting only the part of each interval past the reach so far."""
    total, reach = 0, None
    for start, end in sorted(intervals):
        if reach is not None:
            start = max(start, reach)
        if end > start:
            total += int((end - start).total_seconds())
            reach = end
    return total


def billable_seconds(spans: Iterable[TrackedSpan], window: BillingWindow, strategy: Strategy) -> int:
    """Billable whole seconds of one project's spans inside ``window``."""
    if strategy not in OVERLAP_STRATEGIES:
        raise ValueError(f"unknown overlap strategy: {strategy!r}")
    intervals = _clipped(spans, window)
    if strategy == "merge":
        return _union_seconds(intervals)
    return sum(int((end - start).total_seconds()) for start, end in intervals)


def _per_hour(numerator: Decimal) -> Decimal:
    """``round_half_up(numerator / 3600)``. The quotient is exact or repeats a single
    digit (3600 = 16 × 25 × 9), so it never lands on a half by accident; the wide
    context only keeps large values from losing digits before the rounding."""
    with localcontext() as ctx:
        ctx.prec = 60
        return round_half_up(numerator / SECONDS_PER_HOUR)


def build_line_items(
    spans: Iterable[TrackedSpan],
    projects: Sequence[ProjectRate],
    window: BillingWindow,
    strategy: Strategy,
) -> list[LineItem]:
    """One line per project with billable time, in the order of ``projects``.
    Spans of projects not listed are ignored."""
    if strategy not in OVERLAP_STRATEGIES:
        raise ValueError(f"unknown overlap strategy: {strategy!r}")
    by_project: dict[str, list[TrackedSpan]] = {}
    for span in spans:
        by_project.setdefault(span.project_id, []).append(span)
    items = []
    seen = set()
    for project in projects:
        if project.project_id in seen:
            continue
        seen.add(project.project_id)
        seconds = billable_seconds(by_project.get(project.project_id, ()), window, strategy)
        if seconds <= 0:
            continue
        rate = project.rate
        items.append(LineItem(
            project_id=project.project_id,
            project_name=project.project_name,
            seconds=seconds,
            hours=_per_hour(Decimal(seconds)),
            rate=rate,
            amount=_per_hour(seconds * rate),
        ))
    return items


def compute_totals(line_items: Iterable[LineItem], tax_rate: Decimal) -> InvoiceTotals:
    """Subtotal of the rounded lines, tax rounded once on the subtotal, total their sum."""
    subtotal = round_half_up(sum((item.amount for item in line_items), ZERO))
    with localcontext() as ctx:
        ctx.prec = 60
        tax_amount = round_half_up(subtotal * Decimal(tax_rate) / 100)
    return InvoiceTotals(subtotal=subtotal, tax_amount=tax_amount, total=subtotal + tax_amount)


def invoice_number(prefix: str, created: datetime, sequence: int) -> str:
    """``DMI-202606-0001``: prefix, UTC month of creation, sequence padded to 4+ digits."""
    if sequence < 1:
        raise ValueError("invoice sequence starts at 1")
    return f"{prefix}-{to_utc(created):%Y%m}-{sequence:04d}"


def due_date(period_end: date) -> date:
    """Payment is due 15 days after the period ends (at most the last representable date)."""
    return min(period_end, date.max - DUE_AFTER) + DUE_AFTER
