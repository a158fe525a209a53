-- Panel audience per programme slot, joined to the schedule.
SELECT
    p.programme_id,
    p.channel_id,
    p.programme_title,
    p.genre,
    p.broadcast_date,
    count(DISTINCT v.panel_household)                        AS households,
    round(avg(CAST(v.mins AS INTEGER)), 1)                   AS avg_minutes_viewed,
    round(avg(least(CAST(v.mins AS INTEGER), p.duration_minutes) / p.duration_minutes), 3) AS avg_share_viewed,
    round(avg(CASE WHEN v.mode = 'catch_up' THEN 1.0 ELSE 0.0 END), 3)    AS catch_up_share
FROM panel_viewing AS v
JOIN programmes AS p ON p.programme_id = v.prog_id
GROUP BY ALL
