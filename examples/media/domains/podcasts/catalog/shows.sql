-- The podcast shows of the hosting platform, renamed onto the mesh's shared types.
SELECT
    id            AS show_id,
    trim(title)   AS title,
    category,
    language      AS language_code,
    rights_holder AS rights_holder_id,
    launched_on
FROM show_feed
