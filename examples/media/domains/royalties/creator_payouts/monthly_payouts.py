"""Monthly royalty payout per rights holder, across the podcasts and films domains.

Podcast royalties are paid per listened hour of *qualified* listens (sessions of 60 seconds or more);
film royalties per streamed minute. Each rights holder's agreement sets its rates, its currency and an
optional minimum monthly guarantee: in a month with any usage, a holder earning less than the guarantee
gets a top-up.

meshplane calls ``transform`` with one ``pyarrow.Table`` per input port of the product, keyed by the input
port's name, and publishes the returned table as the ``monthly_payouts`` port.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

QUALIFIED_LISTEN_SECONDS = 60


def _month(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """First day of the month of a timestamp or date column, as a date."""
    return pc.cast(pc.floor_temporal(column, unit="month"), pa.date32())


def _podcast_usage(listening_events: pa.Table, shows: pa.Table) -> pa.Table:
    events = listening_events.select(["show_id", "seconds_listened", "started_at"])
    events = events.filter(pc.greater_equal(events["seconds_listened"], QUALIFIED_LISTEN_SECONDS))
    events = events.append_column("payout_month", _month(events["started_at"]))
    per_show = events.group_by(["show_id", "payout_month"]).aggregate(
        [("seconds_listened", "sum"), ("seconds_listened", "count")]
    )
    per_show = per_show.join(shows.select(["show_id", "rights_holder_id"]), "show_id", join_type="inner")
    usage = per_show.group_by(["rights_holder_id", "payout_month"]).aggregate(
        [("seconds_listened_sum", "sum"), ("seconds_listened_count", "sum")]
    )
    return pa.table(
        {
            "rights_holder_id": usage["rights_holder_id"],
            "payout_month": usage["payout_month"],
            "qualified_listens": pc.cast(usage["seconds_listened_count_sum"], pa.int64()),
            "listened_hours": pc.divide(pc.cast(usage["seconds_listened_sum_sum"], pa.float64()), 3600.0),
        }
    )


def _film_usage(title_monthly: pa.Table, titles: pa.Table) -> pa.Table:
    per_title = title_monthly.select(["stream_month", "title_id", "minutes_watched"]).join(
        titles.select(["title_id", "rights_holder_id"]), "title_id", join_type="inner"
    )
    usage = per_title.group_by(["rights_holder_id", "stream_month"]).aggregate([("minutes_watched", "sum")])
    return pa.table(
        {
            "rights_holder_id": usage["rights_holder_id"],
            "payout_month": pc.cast(usage["stream_month"], pa.date32()),
            "streamed_minutes": pc.cast(usage["minutes_watched_sum"], pa.float64()),
        }
    )


def _zero_if_null(column: pa.ChunkedArray, type_: pa.DataType) -> pa.ChunkedArray:
    return pc.fill_null(pc.cast(column, type_), pa.scalar(0, type_))


def transform(**inputs: pa.Table) -> pa.Table:
    podcast = _podcast_usage(inputs["listening_events"], inputs["shows"])
    film = _film_usage(inputs["title_monthly"], inputs["titles"])

    usage = podcast.join(film, ["rights_holder_id", "payout_month"], join_type="full outer", coalesce_keys=True)
    rates = inputs["royalty_rates"].select(
        [
            "rights_holder_id",
            "currency_code",
            "rate_per_listened_hour",
            "rate_per_streamed_minute",
            "minimum_monthly_guarantee",
        ]
    )
    names = inputs["rights_holders"].select(["rights_holder_id", "rights_holder_name"])
    usage = usage.join(rates, "rights_holder_id", join_type="inner")
    usage = usage.join(names, "rights_holder_id", join_type="inner")

    listens = _zero_if_null(usage["qualified_listens"], pa.int64())
    hours = _zero_if_null(usage["listened_hours"], pa.float64())
    minutes = _zero_if_null(usage["streamed_minutes"], pa.float64())
    podcast_amount = pc.round(pc.multiply(hours, usage["rate_per_listened_hour"]), 2)
    film_amount = pc.round(pc.multiply(minutes, usage["rate_per_streamed_minute"]), 2)
    earned = pc.add(podcast_amount, film_amount)
    top_up = pc.round(pc.max_element_wise(pc.subtract(usage["minimum_monthly_guarantee"], earned), 0.0), 2)

    result = pa.table(
        {
            "rights_holder_id": usage["rights_holder_id"],
            "rights_holder_name": usage["rights_holder_name"],
            "payout_month": usage["payout_month"],
            "currency_code": usage["currency_code"],
            "qualified_listens": listens,
            "listened_hours": pc.round(hours, 2),
            "streamed_minutes": pc.round(minutes, 1),
            "podcast_amount": podcast_amount,
            "film_amount": film_amount,
            "guarantee_top_up": top_up,
            "total_amount": pc.round(pc.add(earned, top_up), 2),
        }
    )
    return result.sort_by([("payout_month", "ascending"), ("rights_holder_id", "ascending")])
