-- Public directory of rights holders (no contact details, no commercial terms).
SELECT
    holder_ref   AS rights_holder_id,
    legal_name   AS rights_holder_name,
    holder_type,
    country      AS country_code,
    currency     AS currency_code
FROM agreements
