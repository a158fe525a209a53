-- R&D safety reports: MedDRA codes and CTCAE grades already; serious is Y/N.
SELECT
    r.subject_id                                            AS patient_id,
    CAST(row_number() OVER (PARTITION BY r.subject_id
                            ORDER BY r.onset_date, r.meddra_pt_code) AS INTEGER) AS ae_sequence,
    st.nct_number                                           AS trial_id,
    CAST(r.meddra_pt_code AS VARCHAR)                       AS adverse_event_code,
    CAST(r.ctcae_grade AS INTEGER)                          AS severity_grade,
    r.serious = 'Y'                                         AS serious,
    CAST(r.onset_date AS DATE)                              AS onset_date
FROM safety_reports AS r
JOIN ctms_studies AS st ON st.study_ref = r.study_ref
