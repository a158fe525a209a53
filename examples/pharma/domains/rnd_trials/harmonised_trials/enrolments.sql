-- R&D subjects: already in kg and mg with global site ids; arms are upper case.
SELECT
    s.subject_id                                            AS patient_id,
    st.nct_number                                           AS trial_id,
    s.site_id,
    s.country_code,
    CAST(s.birth_date AS DATE)                              AS birth_date,
    CAST(date_sub('year', CAST(s.birth_date AS DATE), CAST(s.randomised_on AS DATE)) AS INTEGER)
                                                            AS age_at_enrolment,
    s.sex,
    CAST(s.weight_kg AS DOUBLE)                             AS weight_kg,
    lower(s.arm)                                            AS arm,
    CAST(s.dose_mg AS DOUBLE)                               AS daily_dose_mg,
    CAST(s.randomised_on AS DATE)                           AS enrolled_on,
    CAST(s.primary_endpoint_met AS BOOLEAN)                 AS responder
FROM edc_subjects AS s
JOIN ctms_studies AS st ON st.study_ref = s.study_ref
