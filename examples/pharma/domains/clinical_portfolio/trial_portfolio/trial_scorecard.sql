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
arms AS (
    SELECT
        trial_id,
        count(*)                                                      AS enrolled,
        count(*) FILTER (WHERE arm = 'active')                        AS patients_active,
        count(*) FILTER (WHERE arm = 'placebo')                       AS patients_placebo,
        avg(CAST(responder AS INTEGER)) FILTER (WHERE arm = 'active')  AS responder_rate_active,
        avg(CAST(responder AS INTEGER)) FILTER (WHERE arm = 'placebo') AS responder_rate_placebo
    FROM enrolments
    GROUP BY trial_id
),
sae_patients AS (
    SELECT DISTINCT patient_id FROM adverse_events WHERE serious
),
safety AS (
    SELECT
        e.trial_id,
        avg(CASE WHEN s.patient_id IS NOT NULL THEN 1.0 ELSE 0.0 END) FILTER (WHERE e.arm = 'active')  AS sae_rate_active,
        avg(CASE WHEN s.patient_id IS NOT NULL THEN 1.0 ELSE 0.0 END) FILTER (WHERE e.arm = 'placebo') AS sae_rate_placebo
    FROM enrolments AS e
    LEFT JOIN sae_patients AS s ON s.patient_id = e.patient_id
    GROUP BY e.trial_id
),
scored AS (
    SELECT
        t.trial_id, t.sponsor_origin, t.local_study_ref, t.compound_id, t.indication, t.phase, t.target_enrolment,
        coalesce(a.enrolled, 0)                                       AS enrolled,
        round(coalesce(a.enrolled, 0) / t.target_enrolment, 3)        AS enrolment_ratio,
        coalesce(a.patients_active, 0)                                AS patients_active,
        coalesce(a.patients_placebo, 0)                               AS patients_placebo,
        round(a.responder_rate_active, 3)                             AS responder_rate_active,
        round(a.responder_rate_placebo, 3)                            AS responder_rate_placebo,
        round(a.responder_rate_active - a.responder_rate_placebo, 3)  AS efficacy_delta,
        round(s.sae_rate_active, 3)                                   AS sae_rate_active,
        round(s.sae_rate_placebo, 3)                                  AS sae_rate_placebo,
        round(s.sae_rate_active - s.sae_rate_placebo, 3)              AS sae_excess
    FROM trials AS t
    LEFT JOIN arms AS a ON a.trial_id = t.trial_id
    LEFT JOIN safety AS s ON s.trial_id = t.trial_id
)
SELECT
    *,
    -- enrolment earns up to 30 points and efficacy up to 70 (a 20-point responder gain over placebo
    -- scores full marks); excess serious adverse events scale the sum down, to 0 at 8 points of excess
    round((30 * least(enrolment_ratio, 1)
           + 70 * greatest(0, least(coalesce(efficacy_delta, 0) / 0.20, 1)))
          * (1 - greatest(0, least((coalesce(sae_excess, 0) - 0.02) / 0.06, 1))), 1) AS promise_score,
    CASE
        WHEN least(patients_active, patients_placebo) < 20                  THEN 'review'
        WHEN sae_excess > 0.06                                              THEN 'stop_early'
        WHEN efficacy_delta < 0.04                                          THEN 'stop_early'
        WHEN enrolment_ratio < 0.5                                          THEN 'review'
        ELSE 'continue'
    END AS recommendation,
    CASE
        WHEN least(patients_active, patients_placebo) < 20                  THEN 'Too few patients per arm to judge.'
        WHEN sae_excess > 0.06 THEN 'Serious adverse events ' || round(100 * sae_excess, 1)
                                    || ' points more frequent on the compound than on placebo.'
        WHEN efficacy_delta < 0.04 THEN 'No meaningful efficacy: responder rate ' || round(100 * efficacy_delta, 1)
                                    || ' points over placebo.'
        WHEN enrolment_ratio < 0.5 THEN 'Enrolment at ' || CAST(round(100 * enrolment_ratio) AS INTEGER) || ' % of target.'
        ELSE 'On track: efficacy ' || round(100 * efficacy_delta, 1) || ' points over placebo, enrolment at '
             || CAST(round(100 * enrolment_ratio) AS INTEGER) || ' % of target.'
    END AS rationale
FROM scored
