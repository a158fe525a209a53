"""Generate the source data of the Northwind Media example mesh.

    python examples/media/generate.py [--scale S] [--out DIR] [--through DATE]
    python examples/media/generate.py --day DATE [--scale S] [--out DIR]

Writes, under ``DIR`` (default: ``examples/media/data``), the files the source contracts point at:

    data/podcasts/listens/*.parquet     hosting platform listening log, one file a day for a year
                                        (2025-11-01 .. 2026-10-31, 1,000,000 events at scale 1)
    data/podcasts/catalog/shows.json    podcast shows (newline-delimited JSON)
    data/podcasts/catalog/episodes.json podcast episodes (newline-delimited JSON)
    data/films/titles.csv               film catalogue export
    data/films/streams/*.parquet        streaming playback log
    data/tv/schedule.json               broadcast schedule (newline-delimited JSON)
    data/tv/viewing/*.csv               audience panel viewing records
    data/royalties/agreements.json      rights holders and their royalty agreements

Everything is derived from a fixed seed with hash-based generation in DuckDB, so two runs write the same
rows. A day's listening file depends only on the day and the scale: ``--through DATE`` writes the year up to
that day, and ``--day DATE`` then delivers one more day's file alone (what the hosting platform's daily export
does), exactly the file a full run would have written. The raw files carry the quirks real feeds have (re-delivered events, vendor device names, lower-case
country codes, over-long listening times) that the source-aligned products clean up.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

SEED = 20260501
MONTHS = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
START = "2026-05-01"
DAYS = 184  # 2026-05-01 .. 2026-10-31
# The podcast listening log covers a whole year, one file a day (an append product reads it day by day).
LISTENS_START = "2025-11-01"
LISTENS_DAYS = 365  # 2025-11-01 .. 2026-10-31

COUNTRIES = [
    "US",
    "GB",
    "DE",
    "FR",
    "CA",
    "AU",
    "NL",
    "ES",
    "IT",
    "SE",
    "IE",
    "BR",
    "MX",
    "IN",
    "JP",
    "NO",
    "DK",
    "BE",
    "CH",
    "NZ",
]
FIRST_NAMES = [
    "anna",
    "ben",
    "chloe",
    "david",
    "emma",
    "felix",
    "grace",
    "hugo",
    "ines",
    "jonas",
    "kate",
    "liam",
    "maya",
    "noah",
    "olivia",
    "pablo",
    "quinn",
    "rosa",
    "sam",
    "tara",
    "umar",
    "vera",
    "will",
    "xena",
    "yusuf",
    "zoe",
]
LAST_NAMES = [
    "smith",
    "muller",
    "martin",
    "rossi",
    "garcia",
    "jansen",
    "nielsen",
    "kowalski",
    "silva",
    "dubois",
    "schmidt",
    "brown",
    "lopez",
    "tanaka",
    "kelly",
    "berg",
    "novak",
    "costa",
]
MAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example", "inbox.example"]
PODCAST_DEVICES = ["iOS", "Android", "Web", "Alexa", "Sonos", "CarPlay", "Android Auto", "iPadOS", "Google Home"]
WORDS_A = [
    "Midnight",
    "Silent",
    "Golden",
    "Broken",
    "Hidden",
    "Electric",
    "Northern",
    "Last",
    "Wild",
    "Paper",
    "Iron",
    "Crimson",
    "Quiet",
    "Lost",
    "Distant",
    "Glass",
    "Burning",
    "Hollow",
    "Bright",
    "Cold",
]
WORDS_B = [
    "Harbour",
    "Signal",
    "Orchard",
    "Frontier",
    "Archive",
    "Season",
    "Empire",
    "River",
    "Voyage",
    "Garden",
    "Machine",
    "Letter",
    "Kingdom",
    "Horizon",
    "Tide",
    "Summit",
    "Station",
    "Mirror",
    "Atlas",
    "Code",
]
SHOW_TOPICS = [
    "True Crime",
    "Tech Talk",
    "History Hour",
    "Daily News",
    "Comedy Club",
    "Science Weekly",
    "Football Pod",
    "Money Matters",
    "Film Club",
    "Wellness",
    "Business Brief",
    "Parenting",
]
GENRES = ["drama", "comedy", "thriller", "documentary", "animation", "sci_fi", "romance", "horror", "action"]


def sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def listens_day(day: str) -> int:
    """The index of ``day`` (YYYY-MM-DD) in the listening log's year; ValueError outside it."""
    from datetime import date

    index = (date.fromisoformat(day) - date.fromisoformat(LISTENS_START)).days
    if not 0 <= index < LISTENS_DAYS:
        raise ValueError(f"{day} is outside the listening log's year ({LISTENS_START} + {LISTENS_DAYS} days)")
    return index


def generate(out: Path, scale: float, *, through: int = LISTENS_DAYS - 1, day: int | None = None) -> dict[str, int]:
    """Write every source (the listening log's days up to ``through``), or only the listening file of ``day``."""
    import duckdb

    n_events = max(1000, int(1_000_000 * scale))
    n_listeners = max(500, int(150_000 * scale))
    n_shows = 120
    n_titles = 800
    n_streams = max(500, int(400_000 * scale))
    n_subscribers = max(200, int(80_000 * scale))
    n_households = max(100, int(5_000 * scale))
    n_viewing = max(500, int(300_000 * scale))

    if day is None:
        for sub in ("podcasts", "films", "tv", "royalties"):
            shutil.rmtree(out / sub, ignore_errors=True)
    for sub in ("podcasts/listens", "podcasts/catalog", "films/streams", "tv/viewing", "royalties"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    # u(i, salt): a uniform number in [0, 1) derived from a row number, a salt and the seed.
    con.execute(f"CREATE MACRO u(i, salt) AS (hash(i, salt, {SEED}) % 1000000007) / 1000000007.0")
    con.execute("CREATE MACRO pick(arr, i, salt) AS arr[1 + CAST(floor(u(i, salt) * len(arr)) AS BIGINT)]")
    con.execute(f"CREATE MACRO countries() AS {sql_list(COUNTRIES)}")
    # Country popularity: the first countries are the biggest markets.
    con.execute(
        "CREATE MACRO country_for(i, salt) AS countries()[1 + CAST(floor(pow(u(i, salt), 1.8) * 20) AS BIGINT)]"
    )

    def copy(query: str, path: Path, fmt: str) -> None:
        if day is not None and "podcasts/listens" not in path.as_posix():
            return  # a daily delivery writes the listening file of that day only
        opts = {
            "parquet": "(FORMAT parquet, COMPRESSION zstd)",
            "csv": "(FORMAT csv, HEADER true)",
            "json": "(FORMAT json)",
        }[fmt]
        con.execute(f"COPY ({query}) TO '{path.as_posix()}' {opts}")

    # ---------------------------------------------------------------- royalties: rights holders
    con.execute(f"""
        CREATE TABLE holders AS
        SELECT i AS n,
               'RH' || lpad(CAST(i AS VARCHAR), 4, '0') AS rights_holder_id,
               CASE WHEN i <= 24 THEN (CASE WHEN i % 3 = 0 THEN 'independent_creator' ELSE 'podcast_network' END)
                    ELSE 'film_studio' END AS kind,
               pick({sql_list(WORDS_A)}, i, 1) || ' ' || pick({sql_list(WORDS_B)}, i, 2) ||
                 CASE WHEN i <= 24 THEN ' Audio' ELSE ' Pictures' END AS name,
               pick(['US', 'GB', 'DE', 'FR', 'CA', 'AU', 'NL', 'SE'], i, 3) AS country_code
        FROM range(1, 41) t(i)
    """)
    copy(
        f"""
        SELECT rights_holder_id AS holder_ref,
               name AS legal_name,
               kind AS holder_type,
               country_code AS country,
               CASE country_code WHEN 'GB' THEN 'GBP' WHEN 'US' THEN 'USD' WHEN 'CA' THEN 'CAD'
                    WHEN 'AU' THEN 'AUD' WHEN 'SE' THEN 'SEK' ELSE 'EUR' END AS currency,
               'royalties+' || lower(replace(name, ' ', '.')) || '@' || pick({sql_list(MAIL_DOMAINS)}, n, 4)
                 AS contact_email,
               CASE WHEN kind = 'film_studio' THEN 0.0 ELSE round(0.015 + u(n, 5) * 0.02, 4) END
                 AS rate_per_listened_hour,
               CASE WHEN kind = 'film_studio' THEN round(0.0008 + u(n, 6) * 0.0007, 5) ELSE 0.0 END
                 AS rate_per_streamed_minute,
               CASE WHEN u(n, 7) < 0.3 THEN round(250 + u(n, 8) * 750, 0) ELSE 0 END AS minimum_monthly_guarantee,
               DATE '2025-01-01' + CAST(floor(u(n, 9) * 365) AS INTEGER) AS signed_on
        FROM holders ORDER BY n
    """,
        out / "royalties/agreements.json",
        "json",
    )

    # ---------------------------------------------------------------- podcasts: shows and episodes
    con.execute(f"""
        CREATE TABLE shows AS
        SELECT i AS show_n,
               'SH' || lpad(CAST(i AS VARCHAR), 5, '0') AS show_id,
               pick({sql_list(WORDS_A)}, i, 11) || ' ' || pick({sql_list(WORDS_B)}, i, 12) || ': ' ||
                 pick({sql_list(SHOW_TOPICS)}, i, 13) AS title,
               'RH' || lpad(CAST(1 + (i * 7) % 24 AS VARCHAR), 4, '0') AS rights_holder_id,
               pick(['en', 'en', 'en', 'de', 'fr', 'es'], i, 14) AS language,
               pick({sql_list(SHOW_TOPICS)}, i, 13) AS category,
               20 + CAST(floor(u(i, 15) * 100) AS INTEGER) AS episode_count,
               600 + CAST(floor(u(i, 16) * 3000) AS INTEGER) AS typical_duration
        FROM range(1, {n_shows + 1}) t(i)
    """)
    copy(
        """
        SELECT show_id AS id, title, category, language,
               rights_holder_id AS rights_holder,
               DATE '2020-01-06' + CAST(floor(u(show_n, 17) * 1800) AS INTEGER) AS launched_on
        FROM shows ORDER BY show_n
    """,
        out / "podcasts/catalog/shows.json",
        "json",
    )
    con.execute("""
        CREATE TABLE episodes AS
        SELECT s.show_n, e.ep_no,
               'EP' || lpad(CAST(s.show_n * 1000 + e.ep_no AS VARCHAR), 7, '0') AS episode_id,
               s.show_id,
               GREATEST(300, CAST(s.typical_duration * (0.7 + u(s.show_n * 1000 + e.ep_no, 21) * 0.6) AS INTEGER))
                 AS duration_seconds,
               TIMESTAMP '2026-10-31 06:00:00'
                 - to_days(CAST((s.episode_count - e.ep_no) * 7 AS INTEGER)) AS published_at
        FROM shows s, (SELECT show_n, unnest(range(1, episode_count + 1)) AS ep_no FROM shows) e
        WHERE e.show_n = s.show_n
    """)
    copy(
        """
        SELECT episode_id AS id, show_id AS show_ref, 'Episode ' || ep_no AS title, ep_no AS number,
               duration_seconds AS length_s, strftime(published_at, '%Y-%m-%dT%H:%M:%SZ') AS published
        FROM episodes ORDER BY show_n, ep_no
    """,
        out / "podcasts/catalog/episodes.json",
        "json",
    )

    # ---------------------------------------------------------------- podcasts: listening log
    con.execute(f"""
        CREATE TABLE listeners AS
        SELECT i AS listener_n,
               'L' || lpad(CAST(10000000 + i AS VARCHAR), 8, '0') AS listener_id,
               pick({sql_list(FIRST_NAMES)}, i, 31) || '.' || pick({sql_list(LAST_NAMES)}, i, 32) ||
                 CAST(i % 1000 AS VARCHAR) || '@' || pick({sql_list(MAIL_DOMAINS)}, i, 33) AS email,
               country_for(i, 34) AS country_code,
               pick({sql_list(PODCAST_DEVICES)}, i, 35) AS device
        FROM range(1, {n_listeners + 1}) t(i)
    """)
    # Events per day: weekends busier, the audience growing over the year. Event i belongs to the day whose
    # [first_i, end_i) range holds it, so a day's events depend on the day and the scale only.
    con.execute(f"""
        CREATE TABLE days AS
        WITH w AS (
            SELECT d AS day, DATE '{LISTENS_START}' + CAST(d AS INTEGER) AS on_date,
                   (0.8 + 0.4 * d / {LISTENS_DAYS})
                     * CASE WHEN dayofweek(DATE '{LISTENS_START}' + CAST(d AS INTEGER)) IN (0, 6) THEN 1.25 ELSE 1.0 END
                     AS weight
            FROM range({LISTENS_DAYS}) t(d)
        ), c AS (SELECT *, sum(weight) OVER (ORDER BY day) AS upto, sum(weight) OVER () AS total FROM w)
        SELECT day, on_date,
               CAST(floor({n_events} * (upto - weight) / total) AS BIGINT) AS first_i,
               CAST(floor({n_events} * upto / total) AS BIGINT) AS end_i
        FROM c
    """)
    lo, hi = (day, day) if day is not None else (0, through)
    first_i, end_i = con.execute(
        f"SELECT min(first_i), max(end_i) FROM days WHERE day BETWEEN {lo} AND {hi}"
    ).fetchone()  # type: ignore[misc]
    con.execute(f"""
        CREATE TABLE events AS
        WITH raw AS (
            SELECT i, d.day, d.on_date,
                   1 + CAST(floor(pow(u(i, 41), 2.2) * {n_listeners}) AS BIGINT) AS listener_n,
                   1 + CAST(floor(pow(u(i, 42), 2.5) * {n_shows}) AS BIGINT) AS show_n,
                   u(i, 43) AS ep_u,
                   u(i, 44) AS completion_u,
                   u(i, 45) AS frac_u,
                   CAST(floor(u(i, 46) * 86400) AS BIGINT) AS offset_s
            FROM range({first_i}, {end_i}) t(i) ASOF JOIN days d ON t.i >= d.first_i
        )
        SELECT r.i, r.on_date,
               'EV' || lpad(CAST(r.i AS VARCHAR), 10, '0') AS event_id,
               l.listener_id, l.email AS listener_email,
               CAST(1 + (hash(r.listener_n, 51) % 223) AS VARCHAR) || '.' || CAST(hash(r.listener_n, 52) % 256 AS VARCHAR)
                 || '.' || CAST(hash(r.i, 53) % 256 AS VARCHAR) || '.' || CAST(1 + hash(r.i, 54) % 254 AS VARCHAR)
                 AS ip_address,
               e.episode_id, s.show_id,
               CASE WHEN u(r.i, 55) < 0.85 THEN l.device ELSE pick({sql_list(PODCAST_DEVICES)}, r.i, 56) END AS device,
               CASE WHEN u(r.i, 57) < 0.97 THEN l.country_code ELSE country_for(r.i, 58) END AS country_code,
               e.duration_seconds,
               CAST(round(e.duration_seconds * CASE
                    WHEN r.completion_u < 0.28 THEN r.frac_u * 0.15          -- sampled and dropped
                    WHEN r.completion_u < 0.68 THEN 0.15 + r.frac_u * 0.75   -- partial listen
                    WHEN r.completion_u < 0.96 THEN 0.92 + r.frac_u * 0.08   -- finished
                    ELSE 1.0 + r.frac_u * 0.3 END) AS INTEGER)               -- replayed segments
                 AS seconds_listened,
               CAST(r.on_date AS TIMESTAMP) + to_seconds(r.offset_s) AS started_at
        FROM raw r
        JOIN listeners l USING (listener_n)
        JOIN shows s USING (show_n)
        JOIN episodes e ON e.show_n = r.show_n
                       AND e.ep_no = s.episode_count - CAST(floor(pow(r.ep_u, 3) * s.episode_count) AS INTEGER)
    """)
    # The hosting platform delivers at least once: 0.5 % of events arrive twice (in the same day's file).
    con.execute("""
        CREATE TABLE listens_export AS
        SELECT on_date,
               event_id, listener_id, listener_email AS email, ip_address AS client_ip,
               episode_id, show_id, device AS user_agent_device,
               CASE WHEN hash(i, 61) % 50 = 0 THEN lower(country_code) ELSE country_code END AS geo_country,
               seconds_listened AS listened_seconds, duration_seconds AS episode_length_seconds,
               started_at AS started_at_utc
        FROM (SELECT * FROM events
              UNION ALL
              SELECT * FROM events WHERE i % 200 = 0)
        ORDER BY started_at, event_id
    """)
    # One file a day, sliced from the sorted export (365 COPY statements took ten times as long).
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    export = con.execute("SELECT * FROM listens_export").to_arrow_table()
    per_day = pc.value_counts(export["on_date"]).to_pylist()  # in order of appearance: the export is sorted
    export_rows, offset = export.drop_columns(["on_date"]), 0
    for entry in per_day:
        rows = export_rows.slice(offset, entry["counts"])
        offset += entry["counts"]
        pq.write_table(rows, out / f"podcasts/listens/listens_{entry['values']}.parquet", compression="zstd")
    if day is not None:  # a daily delivery: the one day's file, nothing else
        con.close()
        return {f"podcasts listening rows on {e['values']}": e["counts"] for e in per_day}

    # ---------------------------------------------------------------- films: catalogue and streams
    copy(
        f"""
        SELECT 'TT' || lpad(CAST(i AS VARCHAR), 6, '0') AS title_id,
               'The ' || pick({sql_list(WORDS_A)}, i, 71) || ' ' || pick({sql_list(WORDS_B)}, i, 72) ||
                 CASE WHEN i % 9 = 0 THEN ' II' ELSE '' END AS title,
               pick({sql_list(GENRES)}, i, 73) AS genre,
               1975 + CAST(floor(pow(u(i, 74), 0.4) * 51) AS INTEGER) AS release_year,
               75 + CAST(floor(u(i, 75) * 90) AS INTEGER) AS runtime_min,
               pick(['en', 'en', 'en', 'fr', 'de', 'es', 'it', 'ja', 'ko'], i, 76) AS orig_lang,
               'RH' || lpad(CAST(25 + i % 16 AS VARCHAR), 4, '0') AS studio_ref
        FROM range(1, {n_titles + 1}) t(i) ORDER BY i
    """,
        out / "films/titles.csv",
        "csv",
    )
    con.execute(f"""
        CREATE TABLE streams AS
        SELECT i,
               'ST' || lpad(CAST(i AS VARCHAR), 10, '0') AS stream_id,
               'SB' || lpad(CAST(1 + CAST(floor(pow(u(i, 81), 1.7) * {n_subscribers}) AS BIGINT) AS VARCHAR), 8, '0')
                 AS subscriber_id,
               1 + CAST(floor(pow(u(i, 82), 3) * {n_titles}) AS BIGINT) AS title_n,
               country_for(i, 83) AS country_code,
               TIMESTAMP '{START}' + to_seconds(CAST(floor(u(i, 84) * {DAYS} * 86400) AS BIGINT)) AS started_at,
               u(i, 85) AS watch_u,
               pick(['smart_tv', 'smart_tv', 'mobile', 'web', 'tablet', 'console'], i, 86) AS device,
               pick(['basic', 'standard', 'standard', 'premium'], i, 87) AS plan
        FROM range({n_streams}) t(i)
    """)
    con.execute("ALTER TABLE streams ADD COLUMN month VARCHAR")
    con.execute("UPDATE streams SET month = strftime(started_at, '%Y-%m')")
    for month in MONTHS:
        copy(
            f"""
            SELECT stream_id, subscriber_id,
                   'TT' || lpad(CAST(title_n AS VARCHAR), 6, '0') AS title_id,
                   country_code, started_at,
                   round((75 + (title_n * 37) % 90) * CASE WHEN watch_u < 0.3 THEN watch_u ELSE 0.6 + watch_u * 0.45 END, 1)
                     AS minutes_watched,
                   device, plan
            FROM streams WHERE month = '{month}' ORDER BY started_at, stream_id
        """,
            out / f"films/streams/streams_{month.replace('-', '_')}.parquet",
            "parquet",
        )

    # ---------------------------------------------------------------- tv: schedule and panel viewing
    con.execute(f"""
        CREATE TABLE programmes AS
        WITH slots AS (
            SELECT c.ch, d.day, s.slot
            FROM range(1, 13) c(ch), range({DAYS}) d(day), range(12) s(slot)
        )
        SELECT row_number() OVER (ORDER BY day, ch, slot) AS prog_n,
               'PG' || lpad(CAST(row_number() OVER (ORDER BY day, ch, slot) AS VARCHAR), 7, '0') AS programme_id,
               'CH' || lpad(CAST(ch AS VARCHAR), 3, '0') AS channel_id,
               ch, day, slot,
               TIMESTAMP '{START} 06:00:00' + to_days(CAST(day AS INTEGER)) + to_minutes(CAST(slot * 90 AS INTEGER))
                 AS starts_at,
               pick([30, 60, 60, 90], ch * 1000 + slot, 91) AS duration_minutes,
               pick({sql_list(WORDS_A)}, ch * 100 + slot, 92) || ' ' || pick({sql_list(WORDS_B)}, ch * 10 + slot, 93)
                 AS programme_title,
               pick(['news', 'drama', 'sport', 'entertainment', 'documentary', 'kids'], ch * 100 + slot, 94) AS genre
        FROM slots
    """)
    copy(
        """
        SELECT programme_id AS programme_ref, channel_id AS channel, programme_title AS title, genre,
               strftime(starts_at, '%Y-%m-%dT%H:%M:%S') AS start_time, duration_minutes AS duration_min
        FROM programmes ORDER BY prog_n
    """,
        out / "tv/schedule.json",
        "json",
    )
    n_progs = con.execute("SELECT count(*) FROM programmes").fetchone()[0]  # type: ignore[index]
    con.execute(f"""
        CREATE TABLE viewing AS
        SELECT i,
               'HH' || lpad(CAST(1 + CAST(floor(u(i, 101) * {n_households}) AS BIGINT) AS VARCHAR), 6, '0') AS household_id,
               p.programme_id, p.channel_id, CAST(p.starts_at AS DATE) AS broadcast_date, p.duration_minutes,
               pick(['GB', 'GB', 'GB', 'IE'], i, 103) AS panel_country,
               GREATEST(1, CAST(round(p.duration_minutes * (0.1 + u(i, 104) * 0.9)) AS INTEGER)) AS minutes_viewed,
               pick(['live', 'live', 'live', 'catch_up'], i, 105) AS viewing_mode
        FROM range({n_viewing}) t(i)
        JOIN programmes p ON p.prog_n = 1 + CAST(floor(pow(u(i, 102), 1.3) * {n_progs}) AS BIGINT)
    """)
    for month in MONTHS:
        copy(
            f"""
            SELECT household_id AS panel_household, programme_id AS prog_id, channel_id AS channel_code,
                   strftime(broadcast_date, '%Y-%m-%d') AS broadcast_day, panel_country AS country,
                   minutes_viewed AS mins, viewing_mode AS mode
            FROM viewing WHERE strftime(broadcast_date, '%Y-%m') = '{month}' ORDER BY broadcast_date, i
        """,
            out / f"tv/viewing/viewing_{month.replace('-', '_')}.csv",
            "csv",
        )

    counts = {
        "podcasts listening events (unique)": n_events,
        "podcasts listening rows (with re-deliveries)": con.execute(
            f"SELECT count(*) FROM read_parquet('{(out / 'podcasts/listens/*.parquet').as_posix()}')"
        ).fetchone()[0],  # type: ignore[index]
        "podcasts episodes": con.execute("SELECT count(*) FROM episodes").fetchone()[0],  # type: ignore[index]
        "films streams": n_streams,
        "tv programmes": n_progs,
        "tv viewing records": n_viewing,
    }
    con.close()
    return counts


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000,000 listening events")
    parser.add_argument("--out", type=Path, default=here / "data", help="output folder (default: ./data)")
    parser.add_argument("--through", help="write the listening log up to this day (YYYY-MM-DD) only")
    parser.add_argument("--day", help="write only this day's listening file (YYYY-MM-DD): a daily delivery")
    args = parser.parse_args()
    if args.scale <= 0:
        parser.error("--scale must be positive")
    try:
        through = listens_day(args.through) if args.through else LISTENS_DAYS - 1
        day = listens_day(args.day) if args.day else None
    except ValueError as error:
        parser.error(str(error))
    started = time.perf_counter()
    counts = generate(args.out, args.scale, through=through, day=day)
    elapsed = time.perf_counter() - started
    for name, n in counts.items():
        print(f"{name:>46}: {n:>10,}")
    print(f"wrote {args.out} in {elapsed:.1f}s")


if __name__ == "__main__":
    main()
