-- Nova studies: MM/DD/YYYY dates, Nova compound codes mapped through the crosswalk.
SELECT
    s.nct                                                   AS trial_id,
    'nova'                                                  AS sponsor_origin,
    s.study_number                                          AS local_study_ref,
    x.group_value                                           AS compound_id,
    s.indication,
    CAST(s.phase AS INTEGER)                                AS phase,
    CAST(s.enrollment_goal AS INTEGER)                      AS target_enrolment,
    CAST(strptime(CAST(s.study_start AS VARCHAR), ['%m/%d/%Y', '%Y-%m-%d']) AS DATE) AS first_patient_in
FROM nova_studies AS s
LEFT JOIN nova_crosswalk AS x ON x.code_list = 'compound' AND x.local_value = s.compound
