-- aggregate
SELECT
  COUNT(*) AS "row_count",
  COUNT(*) FILTER(WHERE
    "order_id" IS NULL) AS "order_id__required",
  COUNT("order_id") - COUNT(DISTINCT "order_id") AS "order_id__unique",
  COUNT(*) FILTER(WHERE
    NOT "order_id" IS NULL AND NOT REGEXP_FULL_MATCH("order_id", '^O[0-9]{6}$')) AS "order_id__pattern",
  COUNT(*) FILTER(WHERE
    "customer_id" IS NULL) AS "customer_id__required",
  COUNT(*) FILTER(WHERE
    NOT "status" IS NULL AND NOT "status" IN ('placed', 'shipped', 'cancelled')) AS "status__enum",
  COUNT(*) FILTER(WHERE
    NOT "amount" IS NULL AND (
      "amount" < 0 OR "amount" > 100000
    )) AS "amount__range",
  COUNT(*) FILTER(WHERE
    "created_at" IS NULL) AS "created_at__required",
  COUNT(*) FILTER(WHERE
    "amount" IS NULL) AS "amount__nullvalues",
  COUNT(*) FILTER(WHERE
    NOT "currency" IS NULL AND NOT "currency" IN ('EUR', 'USD', 'GBP')) AS "currency__invalidvalues",
  COUNT(*) FILTER(WHERE
    NOT "email" IS NULL AND NOT REGEXP_FULL_MATCH("email", '^[^@]+@[^@]+$')) AS "email__invalidvalues",
  COUNT(*) FILTER(WHERE
    "email" IS NULL OR "email" IN ('', 'n/a')) AS "email__missingvalues",
  COUNT("quantity") - COUNT(DISTINCT "quantity") AS "quantity__duplicatevalues",
  COUNT(*) FILTER(WHERE
    "quantity" <= 0) AS "quantity__sql",
  COUNT(*) - COUNT(DISTINCT ("customer_id", "created_at")) AS "customer_id_created_at__duplicatevalues",
  COUNT(*) FILTER(WHERE
    status = 'shipped' AND amount IS NULL) AS "sql__sql"
FROM orders;

-- sales.orders.orders.customer_id.foreignKey
SELECT COUNT(*) AS "failing" FROM orders AS src WHERE NOT "src"."customer_id" IS NULL AND NOT EXISTS(SELECT 1 FROM customers AS tgt WHERE "tgt"."customer_id" = "src"."customer_id");

-- sales.orders.orders.quantity.positive_quantity (in the aggregate; alone when it fails)
SELECT COUNT(*) FROM orders WHERE "quantity" <= 0;

-- sales.orders.orders.customer_id+created_at.duplicateValues (in the aggregate; alone when it fails)
SELECT COALESCE(SUM("n") - COUNT(*), 0) AS "failing" FROM (SELECT COUNT(*) AS "n" FROM orders GROUP BY "customer_id", "created_at" HAVING COUNT(*) > 1) AS dup;

-- sales.orders.orders.orders.sql (in the aggregate; alone when it fails)
SELECT COUNT(*) FROM orders WHERE status = 'shipped' AND amount IS NULL;
