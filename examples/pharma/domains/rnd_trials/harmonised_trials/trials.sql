-- R&D studies: the CTMS already uses NCT numbers and group compound codes; phase is text ('Phase 2').
SELECT
    nct_number                                              AS trial_id,
    'rnd'                                                   AS sponsor_origin,
    study_ref                                              AS local_study_ref,
    compound_code                                           AS compound_id,
    indication,
    CAST(regexp_extract(CAST(phase AS VARCHAR), '[0-9]+') AS INTEGER) AS phase,
    CAST(target_enrolment AS INTEGER)                       AS target_enrolment,
    CAST(first_patient_in AS DATE)                          AS first_patient_in
FROM ctms_studies
