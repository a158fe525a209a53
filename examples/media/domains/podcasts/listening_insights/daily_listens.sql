-- Daily listening per show.
SELECT
    CAST(e.started_at AS DATE)                   AS listen_date,
    e.show_id,
    any_value(s.title)                           AS show_title,
    count(*)                                     AS listens,
    count(DISTINCT e.listener_id)                AS unique_listeners,
    round(sum(e.seconds_listened) / 3600.0, 2)   AS hours_listened
FROM listening_events AS e
LEFT JOIN shows AS s ON s.show_id = e.show_id
GROUP BY 1, 2
