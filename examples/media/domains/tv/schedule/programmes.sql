-- Broadcast programme slots from the playout system.
SELECT
    programme_ref                    AS programme_id,
    channel                          AS channel_id,
    title                            AS programme_title,
    genre,
    CAST(start_time AS DATE)         AS broadcast_date,
    CAST(start_time AS TIMESTAMP)    AS starts_at,
    CAST(duration_min AS INTEGER)    AS duration_minutes
FROM broadcast_schedule
