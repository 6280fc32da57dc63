"""Invoice arithmetic (SPEC section 4 "Invoices", section 7 line items): examples and properties."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.invoicing import (
    BillingWindow,
    InvoiceTotals,
    LineItem,
    ProjectRate,
    TrackedSpan,
    billable_seconds,
    billing_window,
    build_line_items,
    compute_totals,
    due_date,
    invoice_number,
)

UTC = timezone.utc
JUNE = billing_window(date(2026, 6, 1), date(2026, 6, 30))
MONEY = re.compile(r"^\d+\.\d{2}$")


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def span(start: datetime, end: datetime | None, project: str = "p1") -> TrackedSpan:
    return TrackedSpan(project, start, end)


def rate(project: str = "p1", own: str | None = "120.00", client: str | None = None, name: str = "") -> ProjectRate:
    return ProjectRate(project, name or project.upper(),
                       None if own is None else Decimal(own), None if client is None else Decimal(client))


# --- billing window, due date, invoice number -------------------------------------------------

def test_billing_window_is_half_open_and_includes_the_whole_end_date():
    assert JUNE == BillingWindow(at(1), at(1, month=7))
    assert JUNE.start.tzinfo is not None and JUNE.start.utcoffset() == timedelta(0)
    assert billing_window(date(2026, 6, 5), date(2026, 6, 5)).seconds == 86400


def test_billing_window_rejects_reversed_period():
    with pytest.raises(ValueError):
        billing_window(date(2026, 6, 2), date(2026, 6, 1))


def test_due_date_is_fifteen_days_after_period_end():
    assert due_date(date(2026, 6, 30)) == date(2026, 7, 15)
    assert due_date(date(2026, 12, 20)) == date(2027, 1, 4)


def test_invoice_number_format():
    assert invoice_number("DMI", at(26, 12), 1) == "DMI-202606-0001"
    assert invoice_number("DMI", at(26, 12), 42) == "DMI-202606-0042"
    assert invoice_number("DMI", at(26, 12), 9999) == "DMI-202606-9999"
    assert invoice_number("DMI", at(26, 12), 10000) == "DMI-202606-10000"


def test_invoice_number_uses_the_utc_month():
    late_june_in_new_york = datetime(2026, 6, 30, 21, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert invoice_number("AB", late_june_in_new_york, 3) == "AB-202607-0003"
    assert invoice_number("AB", datetime(2026, 6, 30, 23, 59, 59), 3) == "AB-202606-0003"  # naive = UTC


def test_invoice_number_sequence_starts_at_one():
    with pytest.raises(ValueError):
        invoice_number("DMI", at(1), 0)


# --- the reference example -----------------------------------------------------------------

def test_reference_example_fifteen_hours_at_120_with_21_percent_tax():
    spans = [span(at(d, 9), at(d, 14)) for d in (2, 3, 4)]  # 3 × 5 h
    items = build_line_items(spans, [rate("p1", "120.00", name="Website")], JUNE, "add")
    assert [i.to_dict() for i in items] == [{
        "project_id": "p1", "project_name": "Website", "seconds": 54000,
        "hours": "15.00", "rate": "120.00", "amount": "1800.00",
    }]
    totals = compute_totals(items, Decimal("21.00"))
    assert totals.to_dict() == {"subtotal": "1800.00", "tax_amount": "378.00", "total": "2178.00"}
    assert totals == InvoiceTotals(Decimal("1800.00"), Decimal("378.00"), Decimal("2178.00"))


# --- rates and line items ----------------------------------------------------------------------

def test_rate_falls_back_from_project_to_client_to_zero():
    spans = [span(at(2, 9), at(2, 10), p) for p in ("own", "client", "none")]
    projects = [rate("own", "100", client="50"), rate("client", None, client="50"), rate("none", None, None)]
    items = build_line_items(spans, projects, JUNE, "add")
    assert [(i.rate, i.amount) for i in items] == [
        (Decimal("100.00"), Decimal("100.00")),
        (Decimal("50.00"), Decimal("50.00")),
        (Decimal("0.00"), Decimal("0.00")),
    ]
    assert items[2].to_dict()["rate"] == "0.00" and items[2].to_dict()["amount"] == "0.00"


def test_project_rate_of_zero_is_not_replaced_by_the_client_rate():
    items = build_line_items([span(at(2, 9), at(2, 10))], [rate("p1", "0", client="80")], JUNE, "add")
    assert items[0].rate == Decimal("0.00")


def test_several_projects_in_given_order_and_only_with_billable_time():
    spans = [
        span(at(2, 9), at(2, 10), "b"),
        span(at(3, 9), at(3, 9, 30), "a"),
        span(at(3, 9), at(3, 9, 30), "unlisted"),
        span(at(4, 9), None, "idle"),
    ]
    projects = [rate("b", "10"), rate("idle", "10"), rate("a", "20")]
    items = build_line_items(spans, projects, JUNE, "add")
    assert [(i.project_id, i.seconds, i.amount) for i in items] == [
        ("b", 3600, Decimal("10.00")),
        ("a", 1800, Decimal("10.00")),
    ]
    assert compute_totals(items, Decimal("0")).to_dict() == {
        "subtotal": "20.00", "tax_amount": "0.00", "total": "20.00"}


def test_no_billable_time_gives_no_lines_and_zero_totals():
    assert build_line_items([], [rate()], JUNE, "add") == []
    assert build_line_items([], [], JUNE, "merge") == []
    assert compute_totals([], Decimal("21.00")).to_dict() == {
        "subtotal": "0.00", "tax_amount": "0.00", "total": "0.00"}


def test_hours_are_rounded_half_up_to_two_decimals():
    item = build_line_items([span(at(2, 9), at(2, 9, 0, 18))], [rate()], JUNE, "add")[0]
    assert item.seconds == 18 and item.to_dict()["hours"] == "0.01"  # 0.005 h
    item = build_line_items([span(at(2, 9), at(2, 9, 0, 17))], [rate()], JUNE, "add")[0]
    assert item.to_dict()["hours"] == "0.00"  # 0.00472 h


def test_line_amount_rounds_an_exact_half_cent_up():
    # 36 s at 0.50/h = 0.005 exactly
    item = build_line_items([span(at(2, 9), at(2, 9, 0, 36))], [rate("p1", "0.50")], JUNE, "add")[0]
    assert item.amount == Decimal("0.01")
    # 18 s at 0.50/h = 0.0025 → 0.00
    item = build_line_items([span(at(2, 9), at(2, 9, 0, 18))], [rate("p1", "0.50")], JUNE, "add")[0]
    assert item.amount == Decimal("0.00")
    # 1 s at 18.18/h = 0.00505 → 0.01
    item = build_line_items([span(at(2, 9), at(2, 9, 0, 1))], [rate("p1", "18.18")], JUNE, "add")[0]
    assert item.amount == Decimal("0.01")


def test_amount_is_computed_from_seconds_not_from_rounded_hours():
    # 1000 s = 0.2777… h; at 100.00/h that is 27.777… → 27.78 (rounded hours would give 28.00)
    item = build_line_items([span(at(2, 9), at(2, 9, 16, 40))], [rate("p1", "100")], JUNE, "add")[0]
    assert (item.hours, item.amount) == (Decimal("0.28"), Decimal("27.78"))


def test_tax_rounds_an_exact_half_cent_up():
    item = LineItem("p1", "P1", 1, Decimal("0.00"), Decimal("0.00"), Decimal("0.10"))
    totals = compute_totals([item], Decimal("5.00"))  # 0.10 × 5 / 100 = 0.005
    assert totals.to_dict() == {"subtotal": "0.10", "tax_amount": "0.01", "total": "0.11"}


def test_tax_is_rounded_once_on_the_subtotal_not_per_line():
    lines = [LineItem(p, p, 1, Decimal("0"), Decimal("0"), Decimal("0.10")) for p in ("a", "b")]
    # per line: 0.005 → 0.01 each = 0.02; on the subtotal: 0.20 × 5% = 0.01
    assert compute_totals(lines, Decimal("5")).tax_amount == Decimal("0.01")


def test_large_amounts_keep_every_cent():
    seconds = 31 * 86400
    item = build_line_items([span(at(1), at(1, month=7) + timedelta(days=1))],
                            [rate("p1", "99999999.99")], billing_window(date(2026, 6, 1), date(2026, 7, 1)), "add")[0]
    assert item.seconds == seconds
    assert item.amount == Decimal("74399999992.56")  # 744 h × 99999999.99


# --- clipping and running spans ----------------------------------------------------------------

def test_running_spans_are_not_billed():
    spans = [span(at(2, 9), None), span(at(3, 9), at(3, 10))]
    assert billable_seconds(spans, JUNE, "add") == 3600
    assert billable_seconds(spans, JUNE, "merge") == 3600
    assert build_line_items([span(at(2, 9), None)], [rate()], JUNE, "add") == []


def test_spans_crossing_the_window_edges_are_clipped():
    before_start = span(at(31, 22, month=5), at(1, 2))  # 2 h inside
    after_end = span(at(30, 23), at(1, 3, month=7))  # 1 h inside
    assert billable_seconds([before_start], JUNE, "add") == 2 * 3600
    assert billable_seconds([after_end], JUNE, "add") == 3600
    whole_month_and_more = span(at(20, month=5), at(10, month=7))
    assert billable_seconds([whole_month_and_more], JUNE, "add") == JUNE.seconds
    assert billable_seconds([whole_month_and_more], JUNE, "merge") == JUNE.seconds


def test_spans_outside_or_touching_the_window_contribute_nothing():
    outside = [span(at(3, 9, month=5), at(3, 10, month=5)), span(at(2, 9, month=7), at(2, 10, month=7))]
    ends_at_start = span(at(31, 23, month=5), at(1))
    starts_at_end = span(at(1, month=7), at(1, 1, month=7))
    for strategy in ("add", "merge"):
        assert billable_seconds([*outside, ends_at_start, starts_at_end], JUNE, strategy) == 0
    assert build_line_items(outside, [rate()], JUNE, "add") == []


def test_zero_length_span_bills_nothing():
    assert billable_seconds([span(at(2, 9), at(2, 9))], JUNE, "add") == 0


def test_add_counts_overlap_twice_merge_once():
    spans = [span(at(2, 9), at(2, 11)), span(at(2, 10), at(2, 12)), span(at(2, 12), at(2, 13))]
    assert billable_seconds(spans, JUNE, "add") == 5 * 3600
    assert billable_seconds(spans, JUNE, "merge") == 4 * 3600  # 9–13, touching spans join
    items = build_line_items(spans, [rate("p1", "10")], JUNE, "merge")
    assert items[0].amount == Decimal("40.00")


def test_spans_with_offsets_are_read_in_utc():
    plus_two = timezone(timedelta(hours=2))
    s = span(datetime(2026, 6, 1, 1, 0, tzinfo=plus_two), datetime(2026, 6, 1, 3, 0, tzinfo=plus_two))
    assert billable_seconds([s], JUNE, "add") == 3600  # 23:00Z–01:00Z, one hour in June


def test_unknown_strategy_is_rejected():
    with pytest.raises(ValueError):
        billable_seconds([], JUNE, "max")
    with pytest.raises(ValueError):
        build_line_items([], [], JUNE, "max")


# --- properties -----------------------------------------------------------------------------

DAY = billing_window(date(2026, 6, 10), date(2026, 6, 10))


def offset_spans(window: BillingWindow, unit: int, low: int, high: int, max_size: int = 8):
    """Closed spans given as offsets (in ``unit`` seconds) from the window start."""
    pair = st.tuples(st.integers(low, high), st.integers(0, high - low)).map(
        lambda p: span(window.start + timedelta(seconds=p[0] * unit),
                       window.start + timedelta(seconds=(p[0] + p[1]) * unit)))
    return st.lists(pair, max_size=max_size)


spans_in_and_around_a_day = offset_spans(DAY, 60, -3 * 1440, 4 * 1440)
strategy_names = st.sampled_from(["add", "merge"])


@given(spans_in_and_around_a_day)
def test_merge_never_exceeds_add(spans):
    assert 0 <= billable_seconds(spans, DAY, "merge") <= billable_seconds(spans, DAY, "add")


@given(st.lists(st.tuples(st.integers(0, 600), st.integers(0, 600)), max_size=8),
       st.integers(-1200, 600), st.randoms(use_true_random=False))
def test_merge_equals_add_for_disjoint_spans(gaps_and_lengths, origin, rnd):
    spans, cursor = [], origin
    for gap, length in gaps_and_lengths:  # gap ≥ 0: spans may touch but never overlap
        start = cursor + gap
        spans.append(span(DAY.start + timedelta(minutes=start), DAY.start + timedelta(minutes=start + length)))
        cursor = start + length
    rnd.shuffle(spans)
    assert billable_seconds(spans, DAY, "merge") == billable_seconds(spans, DAY, "add")


@given(spans_in_and_around_a_day)
def test_billed_time_is_bounded_by_the_window(spans):
    assert billable_seconds(spans, DAY, "add") <= DAY.seconds * len(spans)
    assert billable_seconds(spans, DAY, "merge") <= DAY.seconds


@settings(max_examples=60)
@given(spans_in_and_around_a_day)
def test_clipping_matches_a_per_minute_count(spans):
    minutes = [DAY.start + timedelta(minutes=m) for m in range(DAY.seconds // 60)]
    covering = [sum(s.start <= t < s.end for s in spans) for t in minutes]
    assert billable_seconds(spans, DAY, "add") == 60 * sum(covering)
    assert billable_seconds(spans, DAY, "merge") == 60 * sum(c > 0 for c in covering)


TINY = BillingWindow(at(10, 12), at(10, 12, 2))  # 120 s


@given(offset_spans(TINY, 1, -60, 200))
def test_clipping_matches_a_per_second_count(spans):
    running = [span(TINY.start - timedelta(seconds=30), None), span(TINY.start + timedelta(seconds=5), None)]
    seconds = [TINY.start + timedelta(seconds=s) for s in range(TINY.seconds)]
    covering = [sum(s.start <= t < s.end for s in spans) for t in seconds]
    assert billable_seconds(spans + running, TINY, "add") == sum(covering)
    assert billable_seconds(spans + running, TINY, "merge") == sum(c > 0 for c in covering)


money_rates = st.none() | st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2)
tax_rates = st.decimals(min_value=0, max_value=100, places=2)


@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(-86400, 2 * 86400), st.integers(0, 86400)),
             max_size=10),
    st.tuples(money_rates, money_rates, money_rates, money_rates),
    tax_rates,
    strategy_names,
)
def test_money_strings_and_totals_always_add_up(raw_spans, rates, tax_rate, strategy):
    spans = [span(DAY.start + timedelta(seconds=s), DAY.start + timedelta(seconds=s + n), p) for p, s, n in raw_spans]
    projects = [ProjectRate("a", "A", rates[0], rates[1]), ProjectRate("b", "B", rates[2], None),
                ProjectRate("c", "C", None, rates[3])]
    items = build_line_items(spans, projects, DAY, strategy)
    totals = compute_totals(items, tax_rate)
    for item in items:
        d = item.to_dict()
        assert item.seconds > 0 and d["seconds"] == item.seconds
        for key in ("hours", "rate", "amount"):
            assert MONEY.match(d[key]), d
        assert item.amount == (Decimal(item.seconds) * item.rate / 3600).quantize(Decimal("0.01"), "ROUND_HALF_UP")
    for value in totals.to_dict().values():
        assert MONEY.match(value), totals
    assert totals.subtotal == sum((i.amount for i in items), Decimal("0"))
    assert totals.total == totals.subtotal + totals.tax_amount
    assert totals.tax_amount <= totals.subtotal  # tax rate is at most 100 %
