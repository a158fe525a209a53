-- Film titles from the CMS export, renamed onto the mesh's shared types.
SELECT
    title_id,
    title,
    genre,
    CAST(release_year AS INTEGER) AS release_year,
    CAST(runtime_min AS INTEGER)  AS runtime_minutes,
    orig_lang                     AS original_language,
    studio_ref                    AS rights_holder_id
FROM title_export
