-- Commercial terms per rights holder.
SELECT
    holder_ref                                   AS rights_holder_id,
    currency                                     AS currency_code,
    CAST(rate_per_listened_hour AS DOUBLE)       AS rate_per_listened_hour,
    CAST(rate_per_streamed_minute AS DOUBLE)     AS rate_per_streamed_minute,
    CAST(minimum_monthly_guarantee AS DOUBLE)    AS minimum_monthly_guarantee,
    CAST(signed_on AS DATE)                      AS signed_on
FROM agreements
