"""Generate the source data of the Asterion Pharma example mesh.

    python examples/pharma/generate.py [--scale S] [--out DIR]

Asterion runs clinical trials from three origins, each exporting data its own way:

    data/rnd/            in-house R&D: CSV + Parquet, ISO dates, mg and kg, MedDRA codes, global site ids
    data/helix/          acquired Helix Biotech: JSON + CSV, DD.MM.YYYY dates, doses in g, ISO alpha-3
                         countries, Helix site and adverse-event codes, German-style arm names
    data/nova/           acquired Nova Therapeutics: Parquet + JSON, MM/DD/YYYY dates, weights in lb,
                         country names, numeric site numbers, verbatim adverse-event terms

plus a code crosswalk per acquired company that maps its codes onto the group's shared codes. Everything
is drawn from a fixed seed (numpy), so two runs write the same rows. ``--scale`` multiplies the number of
patients (scale 1: about 18,000 patients and 25,000 adverse events over 30 trials).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

SEED = 424242

# (MedDRA preferred term code, term, Helix code, Nova verbatim term, can be serious)
ADVERSE_EVENTS = [
    ("10019211", "Headache", "HX-AE-017", "headache", False),
    ("10028813", "Nausea", "HX-AE-031", "feeling sick", False),
    ("10016256", "Fatigue", "HX-AE-012", "tiredness", False),
    ("10012735", "Diarrhoea", "HX-AE-009", "diarrhea", False),
    ("10013573", "Dizziness", "HX-AE-010", "dizzy", False),
    ("10037844", "Rash", "HX-AE-040", "skin rash", False),
    ("10047700", "Vomiting", "HX-AE-052", "vomiting", False),
    ("10037660", "Pyrexia", "HX-AE-038", "fever", False),
    ("10022437", "Insomnia", "HX-AE-024", "cannot sleep", False),
    ("10003239", "Arthralgia", "HX-AE-004", "joint pain", False),
    ("10020772", "Hypertension", "HX-AE-021", "high blood pressure", True),
    ("10029354", "Neutropenia", "HX-AE-033", "low neutrophils", True),
    ("10001551", "Alanine aminotransferase increased", "HX-AE-002", "raised alt", True),
    ("10035664", "Pneumonia", "HX-AE-037", "pneumonia", True),
    ("10028596", "Myocardial infarction", "HX-AE-029", "heart attack", True),
    ("10002198", "Anaphylactic reaction", "HX-AE-003", "anaphylaxis", True),
]
COUNTRIES = [  # alpha-2, alpha-3, name
    ("DE", "DEU", "Germany"),
    ("FR", "FRA", "France"),
    ("GB", "GBR", "United Kingdom"),
    ("US", "USA", "United States"),
    ("ES", "ESP", "Spain"),
    ("IT", "ITA", "Italy"),
    ("PL", "POL", "Poland"),
    ("NL", "NLD", "Netherlands"),
    ("CA", "CAN", "Canada"),
    ("JP", "JPN", "Japan"),
    ("BR", "BRA", "Brazil"),
    ("AU", "AUS", "Australia"),
]
CITIES = {
    "DE": ["BER", "MUC", "HAM"],
    "FR": ["PAR", "LYO"],
    "GB": ["LON", "MAN"],
    "US": ["BOS", "NYC", "HOU", "SFO"],
    "ES": ["MAD", "BCN"],
    "IT": ["MIL", "ROM"],
    "PL": ["WAW"],
    "NL": ["AMS"],
    "CA": ["TOR"],
    "JP": ["TYO"],
    "BR": ["SAO"],
    "AU": ["SYD"],
}
INDICATIONS = [
    ("Type 2 diabetes", "E11"),
    ("Rheumatoid arthritis", "M06"),
    ("Asthma", "J45"),
    ("Major depressive disorder", "F32"),
    ("Psoriasis", "L40"),
    ("Heart failure", "I50"),
    ("Non-small cell lung cancer", "C34"),
    ("Migraine", "G43"),
    ("Crohn's disease", "K50"),
    ("Alzheimer's disease", "G30"),
]
ORIGINS = [("rnd", 12), ("helix", 10), ("nova", 8)]
LB_PER_KG = 2.20462


def generate(out: Path, scale: float) -> dict[str, int]:
    import duckdb
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(SEED)
    for sub in ("rnd", "helix", "nova"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()

    def write(table: pa.Table, path: Path, fmt: str) -> None:
        con.register("t", table)
        opts = {
            "parquet": "(FORMAT parquet, COMPRESSION zstd)",
            "csv": "(FORMAT csv, HEADER true)",
            "json": "(FORMAT json)",
        }[fmt]
        con.execute(f"COPY (SELECT * FROM t) TO '{path.as_posix()}' {opts}")
        con.unregister("t")

    # ------------------------------------------------------------ sites: 48 group sites in 12 countries
    sites = []  # (site_id, alpha2, helix code, nova number)
    n = 0
    for a2, _a3, _name in COUNTRIES:
        for city in CITIES[a2]:
            for k in range(1, 3):
                n += 1
                sites.append((f"SITE-{n:04d}", a2, f"HX-{city}-{k:02d}", 700 + n * 3))

    # ------------------------------------------------------------ trials: the truth behind all three exports
    trials = []
    t = 0
    for origin, count in ORIGINS:
        for _ in range(count):
            t += 1
            ind, icd = INDICATIONS[rng.integers(len(INDICATIONS))]
            phase = int(rng.choice([2, 2, 3]))
            kind = rng.random()
            # a mix of promising trials and ones leadership should stop: no effect, harm, or no patients
            effect = 0.0 if kind < 0.2 else float(rng.uniform(0.08, 0.25))
            extra_sae = float(rng.uniform(0.08, 0.15)) if 0.2 <= kind < 0.32 else float(rng.uniform(0.0, 0.02))
            enrol_frac = float(rng.uniform(0.25, 0.45)) if 0.32 <= kind < 0.45 else float(rng.uniform(0.75, 1.05))
            target = int(rng.integers(20, 150)) * 10
            trials.append(
                {
                    "n": t,
                    "origin": origin,
                    "nct": f"NCT0{5200000 + t * 7919 % 99991:07d}",
                    "compound": f"CPD-{10000 + t * 37 % 9000:05d}",
                    "local_compound": {
                        "rnd": f"CPD-{10000 + t * 37 % 9000:05d}",
                        "helix": f"HX-{100 + t}",
                        "nova": f"NVX-{t * 13 % 97:02d}",
                    }[origin],
                    "local_code": {
                        "rnd": f"RND-{2023 + t % 3}-{t:03d}",
                        "helix": f"HLX-P-{40 + t:03d}",
                        "nova": f"NV-{1000 + t * 11}",
                    }[origin],
                    "indication": ind,
                    "icd10": icd,
                    "phase": phase,
                    "target": max(10, round(target * scale)),
                    "placebo_rate": float(rng.uniform(0.18, 0.4)),
                    "effect": effect,
                    "sae_base": float(rng.uniform(0.02, 0.06)),
                    "extra_sae": extra_sae,
                    "enrol_frac": enrol_frac,
                    "start": np.datetime64("2024-01-15") + int(rng.integers(0, 540)),
                    "dose_mg": float(rng.choice([5, 10, 25, 50, 100, 200, 400])),
                    "sites": rng.choice(len(sites), size=int(rng.integers(3, 9)), replace=False),
                }
            )

    # ------------------------------------------------------------ patients and adverse events
    pat_cols: dict[str, list] = {
        k: []
        for k in (
            "origin",
            "trial",
            "local_no",
            "site",
            "birth",
            "sex",
            "weight_kg",
            "active",
            "dose_mg",
            "enrolled",
            "responder",
        )
    }
    ae_cols: dict[str, list] = {k: [] for k in ("origin", "trial", "local_no", "ae", "grade", "serious", "onset")}
    counters = {"rnd": 0, "helix": 0, "nova": 0}
    for tr in trials:
        n_pat = max(4, round(tr["target"] * tr["enrol_frac"]))
        o = tr["origin"]
        nos = np.arange(counters[o] + 1, counters[o] + n_pat + 1)
        counters[o] += n_pat
        active = rng.random(n_pat) < 0.5
        resp_p = tr["placebo_rate"] + np.where(active, tr["effect"], 0.0)
        enrolled = tr["start"] + rng.integers(0, 420, n_pat)
        age_days = (rng.normal(56, 12, n_pat).clip(19, 84) * 365.25).astype(int)
        pat_cols["origin"] += [o] * n_pat
        pat_cols["trial"] += [tr["n"]] * n_pat
        pat_cols["local_no"] += nos.tolist()
        pat_cols["site"] += rng.choice(tr["sites"], n_pat).tolist()
        pat_cols["birth"] += (enrolled - age_days).tolist()
        pat_cols["sex"] += np.where(rng.random(n_pat) < 0.52, "F", "M").tolist()
        pat_cols["weight_kg"] += rng.normal(79, 15, n_pat).clip(42, 160).round(1).tolist()
        pat_cols["active"] += active.tolist()
        pat_cols["dose_mg"] += np.where(active, tr["dose_mg"], 0.0).tolist()
        pat_cols["enrolled"] += enrolled.tolist()
        pat_cols["responder"] += (rng.random(n_pat) < resp_p).tolist()
        # adverse events: non-serious ones at random, plus one serious event for patients who have one
        n_ae = rng.poisson(1.3, n_pat)
        sae = rng.random(n_pat) < tr["sae_base"] + np.where(active, tr["extra_sae"], 0.0)
        benign = [i for i, a in enumerate(ADVERSE_EVENTS) if not a[4]]
        severe = [i for i, a in enumerate(ADVERSE_EVENTS) if a[4]]
        for i in range(n_pat):
            for _ in range(n_ae[i]):
                ae_cols["ae"].append(int(rng.choice(benign)))
                ae_cols["grade"].append(int(rng.choice([1, 1, 1, 2, 2, 3])))
                ae_cols["serious"].append(False)
            if sae[i]:
                ae_cols["ae"].append(int(rng.choice(severe)))
                ae_cols["grade"].append(int(rng.choice([3, 3, 4, 4, 5])))
                ae_cols["serious"].append(True)
            k = n_ae[i] + int(sae[i])
            ae_cols["origin"] += [o] * k
            ae_cols["trial"] += [tr["n"]] * k
            ae_cols["local_no"] += [int(nos[i])] * k
            ae_cols["onset"] += (enrolled[i] + rng.integers(1, 300, k)).tolist()

    con.register(
        "trials_t",
        pa.Table.from_pylist(
            [
                {k: (v.tolist() if hasattr(v, "tolist") and k != "start" else v) for k, v in tr.items() if k != "sites"}
                | {"start": tr["start"].astype("datetime64[D]").item()}
                for tr in trials
            ]
        ),
    )
    con.register(
        "patients_t",
        pa.table(
            {
                **{k: v for k, v in pat_cols.items() if k not in ("birth", "enrolled")},
                "birth": pa.array(np.array(pat_cols["birth"], dtype="datetime64[D]")),
                "enrolled": pa.array(np.array(pat_cols["enrolled"], dtype="datetime64[D]")),
            }
        ),
    )
    con.register(
        "aes_t",
        pa.table(
            {
                **{k: v for k, v in ae_cols.items() if k != "onset"},
                "onset": pa.array(np.array(ae_cols["onset"], dtype="datetime64[D]")),
            }
        ),
    )
    con.register(
        "sites_t",
        pa.table(
            {
                "idx": list(range(len(sites))),
                "site_id": [s[0] for s in sites],
                "a2": [s[1] for s in sites],
                "helix_code": [s[2] for s in sites],
                "nova_no": [s[3] for s in sites],
            }
        ),
    )
    con.register(
        "countries_t",
        pa.table(
            {"a2": [c[0] for c in COUNTRIES], "a3": [c[1] for c in COUNTRIES], "cname": [c[2] for c in COUNTRIES]}
        ),
    )
    con.register(
        "ae_t",
        pa.table(
            {
                "idx": list(range(len(ADVERSE_EVENTS))),
                "pt_code": [a[0] for a in ADVERSE_EVENTS],
                "helix_code": [a[2] for a in ADVERSE_EVENTS],
                "nova_term": [a[3] for a in ADVERSE_EVENTS],
            }
        ),
    )
    con.execute("""
        CREATE VIEW patients AS
        SELECT p.*, t.local_code, t.nct, s.site_id, s.a2, s.helix_code AS helix_site, s.nova_no,
               c.a3, c.cname, t.local_compound
        FROM patients_t p JOIN trials_t t ON t.n = p.trial JOIN sites_t s ON s.idx = p.site
        JOIN countries_t c ON c.a2 = s.a2
    """)
    con.execute("""
        CREATE VIEW aes AS
        SELECT a.*, t.local_code, e.pt_code, e.helix_code, e.nova_term
        FROM aes_t a JOIN trials_t t ON t.n = a.trial JOIN ae_t e ON e.idx = a.ae
    """)

    def copy(query: str, path: Path, fmt: str) -> None:
        write(con.execute(query).to_arrow_table(), path, fmt)

    # ------------------------------------------------------------ in-house R&D
    copy(
        """
        SELECT local_code AS study_ref, nct AS nct_number, compound AS compound_code, indication,
               'Phase ' || phase AS phase, target AS target_enrolment, start AS first_patient_in,
               start + INTERVAL 900 DAY AS planned_completion
        FROM trials_t WHERE origin = 'rnd' ORDER BY n
    """,
        out / "rnd/studies.csv",
        "csv",
    )
    copy(
        """
        SELECT 'RND-' || lpad(CAST(local_no AS VARCHAR), 7, '0') AS subject_id, local_code AS study_ref,
               site_id, a2 AS country_code, birth AS birth_date, sex, weight_kg,
               CASE WHEN active THEN 'ACTIVE' ELSE 'PLACEBO' END AS arm, dose_mg, enrolled AS randomised_on,
               responder AS primary_endpoint_met
        FROM patients WHERE origin = 'rnd' ORDER BY local_no
    """,
        out / "rnd/subjects.parquet",
        "parquet",
    )
    copy(
        """
        SELECT 'RND-' || lpad(CAST(local_no AS VARCHAR), 7, '0') AS subject_id, local_code AS study_ref,
               pt_code AS meddra_pt_code, grade AS ctcae_grade, CASE WHEN serious THEN 'Y' ELSE 'N' END AS serious,
               onset AS onset_date
        FROM aes WHERE origin = 'rnd' ORDER BY local_no, onset, pt_code
    """,
        out / "rnd/adverse_events.csv",
        "csv",
    )

    # ------------------------------------------------------------ Helix Biotech (acquired 2025)
    copy(
        """
        SELECT local_code AS protocol, nct AS registry_id, local_compound AS molecule, indication AS therapeutic_area,
               CASE phase WHEN 2 THEN 'II' ELSE 'III' END AS phase, target AS planned_n,
               strftime(start, '%d.%m.%Y') AS fpi_date
        FROM trials_t WHERE origin = 'helix' ORDER BY n
    """,
        out / "helix/protocols.json",
        "json",
    )
    copy(
        """
        SELECT local_no AS pat_no, local_code AS protocol, helix_site AS centre, a3 AS ctry,
               strftime(birth, '%d.%m.%Y') AS dob, CASE sex WHEN 'F' THEN 'female' ELSE 'male' END AS gender,
               weight_kg AS weight, CASE WHEN active THEN 'verum' ELSE 'placebo' END AS treatment,
               round(dose_mg / 1000.0, 4) AS daily_dose_g, strftime(enrolled, '%d.%m.%Y') AS rand_date,
               CAST(responder AS INTEGER) AS responder
        FROM patients WHERE origin = 'helix' ORDER BY local_no
    """,
        out / "helix/patients.csv",
        "csv",
    )
    copy(
        """
        SELECT local_no AS pat_no, local_code AS protocol, helix_code AS ae_key,
               ['mild', 'moderate', 'severe', 'life-threatening', 'fatal'][grade] AS severity,
               CAST(serious AS INTEGER) AS sae_flag, strftime(onset, '%d.%m.%Y') AS onset
        FROM aes WHERE origin = 'helix' ORDER BY local_no, onset, helix_code
    """,
        out / "helix/adverse_events.csv",
        "csv",
    )
    copy(
        """
        SELECT 'site' AS code_list, helix_code AS local_value, site_id AS group_value FROM sites_t
        UNION ALL SELECT 'country', a3, a2 FROM countries_t
        UNION ALL SELECT 'adverse_event', helix_code, pt_code FROM ae_t
        UNION ALL SELECT 'compound', local_compound, compound FROM trials_t WHERE origin = 'helix'
        ORDER BY 1, 2
    """,
        out / "helix/crosswalk.csv",
        "csv",
    )

    # ------------------------------------------------------------ Nova Therapeutics (acquired 2026)
    copy(
        """
        SELECT local_code AS study_number, nct, local_compound AS compound, indication, phase,
               target AS enrollment_goal, strftime(start, '%m/%d/%Y') AS study_start
        FROM trials_t WHERE origin = 'nova' ORDER BY n
    """,
        out / "nova/studies.parquet",
        "parquet",
    )
    copy(
        """
        SELECT local_no AS patient_number, local_code AS study_number, nova_no AS site_number, cname AS country_name,
               strftime(birth, '%m/%d/%Y') AS date_of_birth, sex, round(weight_kg * 2.20462, 1) AS weight_lb,
               CASE WHEN active THEN 'drug' ELSE 'pbo' END AS arm, dose_mg,
               strftime(enrolled, '%m/%d/%Y') AS enrolled,
               CASE WHEN responder THEN 'responder' ELSE 'non_responder' END AS outcome
        FROM patients WHERE origin = 'nova' ORDER BY local_no
    """,
        out / "nova/patients.json",
        "json",
    )
    copy(
        """
        SELECT local_no AS patient_number, local_code AS study_number, nova_term AS reported_term,
               grade, serious, strftime(onset, '%m/%d/%Y') AS onset
        FROM aes WHERE origin = 'nova' ORDER BY local_no, onset, nova_term
    """,
        out / "nova/adverse_events.json",
        "json",
    )
    copy(
        """
        SELECT 'site' AS code_list, CAST(nova_no AS VARCHAR) AS local_value, site_id AS group_value FROM sites_t
        UNION ALL SELECT 'country', cname, a2 FROM countries_t
        UNION ALL SELECT 'adverse_event', nova_term, pt_code FROM ae_t
        UNION ALL SELECT 'compound', local_compound, compound FROM trials_t WHERE origin = 'nova'
        ORDER BY 1, 2
    """,
        out / "nova/crosswalk.csv",
        "csv",
    )

    counts = {"trials": len(trials), "patients": len(pat_cols["origin"]), "adverse events": len(ae_cols["origin"])}
    con.close()
    return counts


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the number of patients")
    parser.add_argument("--out", type=Path, default=here / "data", help="output folder (default: ./data)")
    args = parser.parse_args()
    if args.scale <= 0:
        parser.error("--scale must be positive")
    started = time.perf_counter()
    counts = generate(args.out, args.scale)
    for name, n in counts.items():
        print(f"{name:>16}: {n:>8,}")
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
