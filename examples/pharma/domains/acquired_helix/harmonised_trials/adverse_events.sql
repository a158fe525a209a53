-- Helix adverse events: Helix codes -> MedDRA through the crosswalk, severity words -> CTCAE grades.
WITH events AS (
    SELECT *, CAST(strptime(CAST(onset AS VARCHAR), ['%d.%m.%Y', '%Y-%m-%d']) AS DATE) AS onset_day
    FROM helix_safety
)
SELECT
    'HLX-' || lpad(CAST(e.pat_no AS VARCHAR), 7, '0')       AS patient_id,
    CAST(row_number() OVER (PARTITION BY e.pat_no ORDER BY e.onset_day, x.group_value) AS INTEGER) AS ae_sequence,
    pr.registry_id                                          AS trial_id,
    x.group_value                                           AS adverse_event_code,
    CASE e.severity
        WHEN 'mild' THEN 1 WHEN 'moderate' THEN 2 WHEN 'severe' THEN 3
        WHEN 'life-threatening' THEN 4 WHEN 'fatal' THEN 5
    END                                                     AS severity_grade,
    CAST(e.sae_flag AS INTEGER) = 1                         AS serious,
    e.onset_day                                             AS onset_date
FROM events AS e
JOIN helix_protocols AS pr ON pr.protocol = e.protocol
LEFT JOIN helix_crosswalk AS x ON x.code_list = 'adverse_event' AND x.local_value = e.ae_key
