-- Monthly streams and minutes per title and country (same one-minute filter as the streams port).
SELECT
    CAST(date_trunc('month', started_at) AS DATE)  AS stream_month,
    title_id,
    country_code,
    count(*)                                       AS streams,
    count(DISTINCT subscriber_id)                  AS unique_subscribers,
    round(sum(minutes_watched), 1)                 AS minutes_watched
FROM playback_log
WHERE minutes_watched >= 1
GROUP BY 1, 2, 3
