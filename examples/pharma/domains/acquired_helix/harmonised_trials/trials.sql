-- Helix protocols: Roman-numeral phases, DD.MM.YYYY dates, Helix molecule codes mapped through the crosswalk.
SELECT
    p.registry_id                                           AS trial_id,
    'helix'                                                 AS sponsor_origin,
    p.protocol                                              AS local_study_ref,
    x.group_value                                           AS compound_id,
    p.therapeutic_area                                      AS indication,
    CASE p.phase WHEN 'I' THEN 1 WHEN 'II' THEN 2 WHEN 'III' THEN 3 WHEN 'IV' THEN 4 END AS phase,
    CAST(p.planned_n AS INTEGER)                            AS target_enrolment,
    CAST(strptime(CAST(p.fpi_date AS VARCHAR), ['%d.%m.%Y', '%Y-%m-%d']) AS DATE) AS first_patient_in
FROM helix_protocols AS p
LEFT JOIN helix_crosswalk AS x ON x.code_list = 'compound' AND x.local_value = p.molecule
