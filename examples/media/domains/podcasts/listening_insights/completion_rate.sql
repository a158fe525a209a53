-- How much of each episode people listen to (sessions under 30 s are samples, not listens).
SELECT
    e.episode_id,
    any_value(e.show_id)                                            AS show_id,
    any_value(ep.duration_seconds)                                  AS duration_seconds,
    count(*)                                                        AS listens,
    round(avg(e.seconds_listened / e.episode_duration_seconds), 4)  AS avg_completion,
    round(avg(CASE WHEN e.seconds_listened >= 0.9 * e.episode_duration_seconds THEN 1.0 ELSE 0.0 END), 4)
                                                                    AS completed_share
FROM listening_events AS e
JOIN episodes AS ep ON ep.episode_id = e.episode_id
WHERE e.seconds_listened >= 30
GROUP BY e.episode_id
