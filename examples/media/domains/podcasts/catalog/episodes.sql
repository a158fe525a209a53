-- Published episodes, renamed onto the mesh's shared types.
SELECT
    id                         AS episode_id,
    show_ref                   AS show_id,
    title                      AS episode_title,
    CAST(number AS INTEGER)    AS episode_number,
    CAST(length_s AS INTEGER)  AS duration_seconds,
    CAST(published AS TIMESTAMP) AS published_at
FROM episode_feed
