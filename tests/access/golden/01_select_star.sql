-- input
SELECT * FROM podcasts.listening_events.listening_events
-- rewritten
SELECT * FROM (SELECT "__mesh_raw"."event_id" AS "event_id", SHA256('consumer-key' || CAST("__mesh_raw"."listener_email" AS TEXT)) AS "listener_email", "__mesh_raw"."listener_id" AS "listener_id", "__mesh_raw"."country" AS "country", "__mesh_raw"."seconds" AS "seconds" FROM READ_PARQUET(['/warehouse/podcasts/listening_events/snap-7/part-0.parquet']) AS "__mesh_raw" WHERE ("__mesh_raw"."country" IN ('FR', 'DE') AND "__mesh_raw"."seconds" > 0) IS TRUE LIMIT 9223372036854775807) AS "listening_events"
