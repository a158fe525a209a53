-- Listening sessions from the hosting platform's log, appended day by day (refresh: append on started_at):
--   * only the sessions after the last published one are read (all of them when the table is rebuilt);
--   * the platform delivers at least once, so keep one row per event_id;
--   * map vendor device names onto device families;
--   * upper-case country codes;
--   * cap listened time at the episode length (replayed segments count once).
SELECT
    event_id,
    listener_id,
    lower(email)                  AS listener_email,
    client_ip                     AS ip_address,
    episode_id,
    show_id,
    CASE
        WHEN user_agent_device IN ('iOS', 'iPadOS')                 THEN 'ios'
        WHEN user_agent_device = 'Android'                          THEN 'android'
        WHEN user_agent_device = 'Web'                              THEN 'web'
        WHEN user_agent_device IN ('Alexa', 'Sonos', 'Google Home') THEN 'smart_speaker'
        WHEN user_agent_device IN ('CarPlay', 'Android Auto')       THEN 'car'
        ELSE 'other'
    END                           AS device,
    upper(geo_country)            AS country_code,
    CAST(least(listened_seconds, episode_length_seconds) AS INTEGER) AS seconds_listened,
    CAST(episode_length_seconds AS INTEGER)                          AS episode_duration_seconds,
    started_at_utc                AS started_at
FROM hosting_listens
WHERE (SELECT start FROM increment_bounds) IS NULL
   OR started_at_utc > (SELECT start FROM increment_bounds)
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY started_at_utc) = 1
