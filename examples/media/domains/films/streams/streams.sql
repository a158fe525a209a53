-- Playback sessions, without accidental plays (under one minute).
SELECT
    stream_id,
    subscriber_id,
    title_id,
    country_code,
    started_at,
    minutes_watched,
    device,
    plan
FROM playback_log
WHERE minutes_watched >= 1
