-- Royalty lines: qualified podcast listening per show and film streaming per title, priced with each
-- rights holder's agreement. Crosses three domains: podcasts, films and royalties.
WITH podcast_usage AS (
    SELECT
        s.rights_holder_id,
        CAST(date_trunc('month', e.started_at) AS DATE)  AS payout_month,
        'podcast_show'                                   AS content_type,
        e.show_id                                        AS content_id,
        count(*)                                         AS units,
        sum(e.seconds_listened) / 3600.0                 AS usage_quantity,
        'listened_hours'                                 AS usage_unit
    FROM listening_events AS e
    JOIN shows AS s ON s.show_id = e.show_id
    WHERE e.seconds_listened >= 60
    GROUP BY 1, 2, 3, 4
),
film_usage AS (
    SELECT
        t.rights_holder_id,
        m.stream_month           AS payout_month,
        'film_title'             AS content_type,
        m.title_id               AS content_id,
        sum(m.streams)           AS units,
        sum(m.minutes_watched)   AS usage_quantity,
        'streamed_minutes'       AS usage_unit
    FROM title_monthly AS m
    JOIN titles AS t ON t.title_id = m.title_id
    GROUP BY 1, 2, 3, 4
),
usage AS (
    SELECT * FROM podcast_usage
    UNION ALL
    SELECT * FROM film_usage
)
SELECT
    u.rights_holder_id,
    u.payout_month,
    u.content_type,
    u.content_id,
    CAST(u.units AS BIGINT)            AS units,
    round(u.usage_quantity, 2)         AS usage_quantity,
    u.usage_unit,
    r.currency_code,
    round(u.usage_quantity * CASE u.content_type
            WHEN 'podcast_show' THEN r.rate_per_listened_hour
            ELSE r.rate_per_streamed_minute
          END, 2)                      AS amount
FROM usage AS u
JOIN royalty_rates AS r ON r.rights_holder_id = u.rights_holder_id
