-- Helix patients onto the group's types: grams -> milligrams, alpha-3 -> alpha-2 countries, Helix centres ->
-- group site ids, DD.MM.YYYY dates, 'verum' -> active. Patient ids get the HLX- prefix.
WITH patients AS (
    SELECT
        *,
        CAST(strptime(CAST(dob AS VARCHAR), ['%d.%m.%Y', '%Y-%m-%d']) AS DATE)       AS birth_day,
        CAST(strptime(CAST(rand_date AS VARCHAR), ['%d.%m.%Y', '%Y-%m-%d']) AS DATE) AS rand_day
    FROM helix_patients
)
SELECT
    'HLX-' || lpad(CAST(p.pat_no AS VARCHAR), 7, '0')       AS patient_id,
    pr.registry_id                                          AS trial_id,
    site.group_value                                        AS site_id,
    country.group_value                                     AS country_code,
    p.birth_day                                             AS birth_date,
    CAST(date_sub('year', p.birth_day, p.rand_day) AS INTEGER) AS age_at_enrolment,
    CASE p.gender WHEN 'female' THEN 'F' WHEN 'male' THEN 'M' END AS sex,
    CAST(p.weight AS DOUBLE)                                AS weight_kg,
    CASE p.treatment WHEN 'verum' THEN 'active' WHEN 'placebo' THEN 'placebo' END AS arm,
    round(CAST(p.daily_dose_g AS DOUBLE) * 1000, 3)         AS daily_dose_mg,
    p.rand_day                                              AS enrolled_on,
    CAST(p.responder AS INTEGER) = 1                        AS responder
FROM patients AS p
JOIN helix_protocols AS pr ON pr.protocol = p.protocol
LEFT JOIN helix_crosswalk AS site    ON site.code_list = 'site'       AND site.local_value = p.centre
LEFT JOIN helix_crosswalk AS country ON country.code_list = 'country' AND country.local_value = p.ctry
