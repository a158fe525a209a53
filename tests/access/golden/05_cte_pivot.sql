-- input
WITH s AS (SELECT * FROM royalties.statements.statements) PIVOT s ON payee_phone USING sum(amount)
-- rewritten
WITH "s" AS (SELECT * FROM (SELECT "listener_id" AS "listener_id", "amount" AS "amount", CASE WHEN "payee_phone" IS NULL THEN NULL WHEN CONTAINS(CAST("payee_phone" AS TEXT), '@') THEN '***' || REGEXP_EXTRACT(CAST("payee_phone" AS TEXT), '@[^@]*$') WHEN LENGTH(CAST("payee_phone" AS TEXT)) >= 8 THEN '***' || RIGHT(CAST("payee_phone" AS TEXT), 4) ELSE '***' END AS "payee_phone", CAST(NULL AS TEXT) AS "note" FROM READ_PARQUET(['/warehouse/royalties/statements/a.parquet', '/warehouse/royalties/statements/b.parquet']) AS "__mesh_raw") AS "statements") PIVOT "s" ON "payee_phone" USING SUM("amount")
