WITH trials AS (
    SELECT * FROM rnd_trials
    UNION ALL BY NAME SELECT * FROM helix_trials
    UNION ALL BY NAME SELECT * FROM nova_trials
),
enrolments AS (
    SELECT * FROM rnd_enrolments
    UNION ALL BY NAME SELECT * FROM helix_enrolments
    UNION ALL BY NAME SELECT * FROM nova_enrolments
),
adverse_events AS (
    SELECT * FROM rnd_adverse_events
    UNION ALL BY NAME SELECT * FROM helix_adverse_events
    UNION ALL BY NAME SELECT * FROM nova_adverse_events
),
arm_sizes AS (
    SELECT
        trial_id,
        count(*) FILTER (WHERE arm = 'active')  AS n_active,
        count(*) FILTER (WHERE arm = 'placebo') AS n_placebo
    FROM enrolments
    GROUP BY trial_id
),
per_code AS (
    SELECT
        e.trial_id,
        ae.adverse_event_code,
        count(DISTINCT ae.patient_id) FILTER (WHERE e.arm = 'active')  AS patients_active,
        count(DISTINCT ae.patient_id) FILTER (WHERE e.arm = 'placebo') AS patients_placebo,
        count(*) FILTER (WHERE ae.serious)                             AS serious_events
    FROM adverse_events AS ae
    JOIN enrolments AS e ON e.patient_id = ae.patient_id
    GROUP BY 1, 2
)
SELECT
    p.trial_id,
    p.adverse_event_code,
    t.compound_id,
    p.patients_active,
    p.patients_placebo,
    p.serious_events,
    round(p.patients_active / greatest(s.n_active, 1), 4)                AS rate_active,
    round(p.patients_placebo / greatest(s.n_placebo, 1), 4)              AS rate_placebo,
    round(p.patients_active / greatest(s.n_active, 1)
          - p.patients_placebo / greatest(s.n_placebo, 1), 4)            AS risk_difference
FROM per_code AS p
JOIN arm_sizes AS s ON s.trial_id = p.trial_id
JOIN trials AS t ON t.trial_id = p.trial_id
