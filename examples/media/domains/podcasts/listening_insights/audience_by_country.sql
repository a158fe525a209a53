-- Monthly audience of every show per country, with the country's share of the show's listens.
WITH monthly AS (
    SELECT
        CAST(date_trunc('month', started_at) AS DATE)  AS listen_month,
        show_id,
        country_code,
        count(DISTINCT listener_id)                    AS listeners,
        count(*)                                       AS listens,
        round(sum(seconds_listened) / 3600.0, 2)       AS hours_listened
    FROM listening_events
    GROUP BY 1, 2, 3
)
SELECT
    *,
    round(listens / sum(listens) OVER (PARTITION BY listen_month, show_id), 4) AS share_of_show_listens
FROM monthly
