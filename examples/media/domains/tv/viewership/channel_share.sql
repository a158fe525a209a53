-- Each channel's share of the day's panel viewing minutes.
WITH daily AS (
    SELECT
        CAST(broadcast_day AS DATE)    AS broadcast_date,
        channel_code                   AS channel_id,
        sum(CAST(mins AS INTEGER))     AS minutes_viewed
    FROM panel_viewing
    GROUP BY 1, 2
)
SELECT
    broadcast_date,
    channel_id,
    CAST(minutes_viewed AS BIGINT)                                                  AS minutes_viewed,
    round(minutes_viewed / sum(minutes_viewed) OVER (PARTITION BY broadcast_date), 4) AS share_of_minutes
FROM daily
