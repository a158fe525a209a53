-- Nova adverse events: verbatim terms -> MedDRA codes through the crosswalk; MM/DD/YYYY dates.
WITH events AS (
    SELECT *, CAST(strptime(CAST(onset AS VARCHAR), ['%m/%d/%Y', '%Y-%m-%d']) AS DATE) AS onset_day
    FROM nova_safety
)
SELECT
    'NOV-' || lpad(CAST(e.patient_number AS VARCHAR), 7, '0') AS patient_id,
    CAST(row_number() OVER (PARTITION BY e.patient_number ORDER BY e.onset_day, x.group_value) AS INTEGER)
                                                            AS ae_sequence,
    s.nct                                                   AS trial_id,
    x.group_value                                           AS adverse_event_code,
    CAST(e.grade AS INTEGER)                                AS severity_grade,
    CAST(e.serious AS BOOLEAN)                              AS serious,
    e.onset_day                                             AS onset_date
FROM events AS e
JOIN nova_studies AS s ON s.study_number = e.study_number
LEFT JOIN nova_crosswalk AS x ON x.code_list = 'adverse_event' AND lower(x.local_value) = lower(e.reported_term)
