-- Nova patients onto the group's types: pounds -> kilograms, country names -> alpha-2, site numbers -> group
-- site ids, MM/DD/YYYY dates, 'drug'/'pbo' -> active/placebo. Patient ids get the NOV- prefix.
WITH patients AS (
    SELECT
        *,
        CAST(strptime(CAST(date_of_birth AS VARCHAR), ['%m/%d/%Y', '%Y-%m-%d']) AS DATE) AS birth_day,
        CAST(strptime(CAST(enrolled AS VARCHAR), ['%m/%d/%Y', '%Y-%m-%d']) AS DATE)      AS enrolled_day
    FROM nova_patients
)
SELECT
    'NOV-' || lpad(CAST(p.patient_number AS VARCHAR), 7, '0') AS patient_id,
    s.nct                                                   AS trial_id,
    site.group_value                                        AS site_id,
    country.group_value                                     AS country_code,
    p.birth_day                                             AS birth_date,
    CAST(date_sub('year', p.birth_day, p.enrolled_day) AS INTEGER) AS age_at_enrolment,
    p.sex,
    round(CAST(p.weight_lb AS DOUBLE) / 2.20462, 1)         AS weight_kg,
    CASE p.arm WHEN 'drug' THEN 'active' WHEN 'pbo' THEN 'placebo' END AS arm,
    CAST(p.dose_mg AS DOUBLE)                               AS daily_dose_mg,
    p.enrolled_day                                          AS enrolled_on,
    p.outcome = 'responder'                                 AS responder
FROM patients AS p
JOIN nova_studies AS s ON s.study_number = p.study_number
LEFT JOIN nova_crosswalk AS site    ON site.code_list = 'site'
                                   AND site.local_value = CAST(p.site_number AS VARCHAR)
LEFT JOIN nova_crosswalk AS country ON country.code_list = 'country' AND country.local_value = p.country_name
