"""The decision guide of docs/scope.md, each row judged by our measurements (notebook 09).

Every row is a claim broken into parts; each part is read from a headline of notebooks 06, 07, 08 or 10 and is an
outcome "helps" (the measurement backs the claim), "hurts" (it contradicts it) or "none" (no clear difference).
A row is *supported* when every measured part backs it, *partly supported* when some do, *not supported* when
none does, and *not measured* when no part has a measurement. A row with an unmeasured part is at best partly
supported. The verdicts themselves (helps / hurts / no clear difference / underpowered) come from the notebooks'
paired tests (core/stats.py): McNemar for exact match, a paired bootstrap of corpus BLEU (notebooks 06 and 08).
"""
from __future__ import annotations

import pandas as pd

from seqgap_lab.core.stats import sentence
from seqgap_lab.sweeps.cells import BASE

SUPPORTED, PARTLY, NOT_SUPPORTED, UNMEASURED = "supported", "partly supported", "not supported", "not measured"
ROWS = (("short sequences (< 32 tokens)", "teacher forcing is enough"),
        ("long sequences", "scheduled sampling or MRT"),
        ("production NMT", "beam + length penalty + coverage"),
        ("long-form LM generation", "contrastive decoding or self-distillation"),
        ("default", "teacher forcing with a 1,000-step warmup, then scheduled sampling"))
P_VALUE = 0.05  # notebook 06's paired bootstrap: a difference counts below this p-value


def outcome(verdict_text: str) -> str:
    """'helps' | 'hurts' | 'none' from a verdict sentence of core/stats.py (Comparison.sentence)."""
    word = verdict_text.split()[0] if verdict_text else ""
    return word if word in ("helps", "hurts") else "none"


def judge(parts: list[tuple[str, str | None]]) -> str:
    """A row's verdict from its parts' outcomes ('helps' | 'hurts' | 'none', or None when not measured)."""
    measured = [o for _, o in parts if o is not None]
    if not measured:
        return UNMEASURED
    helped = sum(o == "helps" for o in measured)
    if helped == len(measured):
        return SUPPORTED if len(measured) == len(parts) else PARTLY
    return PARTLY if helped else NOT_SUPPORTED


def _synthetic_cells(lengths: dict | None) -> dict:
    return (lengths or {}).get("synthetic") or {}


def _translation_models(lengths: dict | None) -> dict:
    return ((lengths or {}).get("translation") or {}).get("models") or {}


def short_parts(lengths: dict | None) -> list[tuple[str, str | None]]:
    """Per task/model (within the training lengths) and per translation model (shortest bucket): 'helps' when
    no remedy beats teacher forcing + greedy there (so teacher forcing is enough), 'hurts' when one does."""
    parts = []
    for cell, row in _synthetic_cells(lengths).items():
        better = [r for r, v in row.items() if r != "/".join(BASE) and outcome(v.get("verdict_within", "")) == "helps"]
        parts.append((f"{cell} within training lengths: " + (f"beaten by {', '.join(better)}" if better else
                      f"no remedy beats TF greedy ({row['/'.join(BASE)]['exact_match_within']:.3f})"),
                      "hurts" if better else "helps"))
    for model, row in _translation_models(lengths).items():
        better = [r for r, v in row.items() if outcome(v.get("verdict_bleu_shortest", "")) == "helps"]
        parts.append((f"es-en/{model} shortest bucket: " + (f"beaten by {', '.join(better)}" if better else
                      "no remedy beats TF greedy"), "hurts" if better else "helps"))
    return parts or [("remedies vs teacher forcing on short sequences (notebook 08)", None)]


def long_parts(lengths: dict | None) -> list[tuple[str, str | None]]:
    """Per task/model (beyond the training lengths) and translation model (longest bucket): does SS or MRT
    (with greedy decoding) beat teacher forcing + greedy?"""
    parts = []
    for cell, row in _synthetic_cells(lengths).items():
        got = {r: row[r]["verdict_beyond"] for r in ("ss/greedy", "mrt/greedy") if r in row}
        parts.append((f"{cell} beyond training lengths: " + "; ".join(f"{r} {v}" for r, v in got.items()),
                      _best(got.values()) if got else None))
    for model, row in _translation_models(lengths).items():
        got = {r: row[r]["verdict_bleu_longest"] for r in ("ss/greedy", "mrt/greedy") if r in row}
        parts.append((f"es-en/{model} longest bucket: " + "; ".join(f"{r} {v}" for r, v in got.items()),
                      _best(got.values()) if got else None))
    return parts or [("scheduled sampling and MRT on long sequences (notebook 08)", None)]


def _best(verdicts) -> str:
    """'helps' if any of the alternatives helps, else 'hurts' if any hurts, else 'none'."""
    outcomes = [outcome(v) for v in verdicts]
    return "helps" if "helps" in outcomes else "hurts" if "hurts" in outcomes else "none"


def _p_outcome(delta: float, p_value: float | None) -> str | None:
    if p_value is None or p_value != p_value:
        return None
    return "none" if p_value >= P_VALUE else ("helps" if delta > 0 else "hurts")


def nmt_parts(beam: dict | None) -> list[tuple[str, str | None]]:
    """From notebook 06's headline: beam vs greedy, the best GNMT length penalty vs none (paired bootstrap),
    and the largest coverage weight vs none at the best alpha (the paired bootstrap of notebook 06's `tests`)."""
    if not beam:
        return [("beam vs greedy", None), ("length penalty", None), ("coverage penalty", None)]
    big = str(beam["largest_beam"])
    plain, greedy, gnmt = beam["no_penalty"][big], beam["greedy"], beam["gnmt"]
    d_beam, d_lp = plain["bleu"] - greedy["bleu"], gnmt["bleu"] - plain["bleu"]
    parts = [(f"beam {big} vs greedy: BLEU {plain['bleu']:.2f} vs {greedy['bleu']:.2f} "
              f"(p = {beam.get('p_value_beam_vs_greedy', float('nan')):.3f})",
              _p_outcome(d_beam, beam.get("p_value_beam_vs_greedy"))),
             (f"GNMT length penalty alpha {gnmt['best_alpha']:g} vs none at beam {big}: BLEU {gnmt['bleu']:.2f} vs "
              f"{plain['bleu']:.2f} (p = {beam.get('p_value_best_gnmt_vs_no_penalty', float('nan')):.3f})",
              _p_outcome(d_lp, beam.get("p_value_best_gnmt_vs_no_penalty")))]
    alpha = f"{gnmt['best_alpha']:g}"
    cover = {k: v for k, v in beam.get("coverage", {}).items() if k.startswith(f"alpha={alpha} ")}
    off = cover.get(f"alpha={alpha} beta=0")
    betas = sorted((float(k.split("beta=")[1]), v) for k, v in cover.items() if not k.endswith("beta=0"))
    if off is None or not betas:
        parts.append(("coverage penalty", None))
    else:
        beta, on = betas[-1]
        test = beam.get("tests", {}).get(f"coverage alpha={alpha} beta={beta:g} vs beta=0")
        v = sentence(test, 2)
        parts.append((f"coverage beta {beta:g} vs 0 at alpha {alpha}: BLEU {on['bleu']:.2f} vs {off['bleu']:.2f}, {v}",
                      outcome(v) if test else None))
    return parts


def _rep4_part(what: str, comparison: dict | None) -> tuple[str, str | None]:
    """(evidence text, outcome) of a paired rep-4 comparison over prompts (generation.paired_comparison: 'helps'
    = lower rep-4); not measured without one."""
    if not comparison or comparison.get("delta") != comparison.get("delta"):
        return what, None
    return f"{what}: {sentence(comparison)}", outcome(comparison["verdict"])


def longform_parts(contrastive: dict | None, longform: dict | None = None) -> list[tuple[str, str | None]]:
    """Contrastive decoding vs greedy on rep-4 at the longest budget per corpus (notebook 07's headline), and the
    self-distilled prose LM vs the teacher-forced one, both greedy (notebook 10's long-form headline)."""
    parts = []
    for corpus, row in (contrastive or {}).items():
        parts.append(_rep4_part(f"{corpus}: contrastive minus greedy rep-4 at {row.get('longest')} tokens",
                                row.get("contrastive_vs_greedy_rep_4")))
    if not parts:
        parts.append(("contrastive decoding (notebook 07)", None))
    effect = ((longform or {}).get("distill_effect") or {}).get("greedy", {}).get("rep_4")
    if effect:
        parts.append(_rep4_part(f"prose: self-distilled minus TF rep-4, greedy, at {longform.get('longest')} tokens",
                                effect.get("comparison")))
    else:
        parts.append(("self-distillation for long-form generation (notebook 10's long-form study)", None))
    return parts


def default_parts(lengths: dict | None) -> list[tuple[str, str | None]]:
    """Scheduled sampling after a teacher-forcing warm-up (notebook 08's ss cells) vs teacher forcing, overall."""
    parts = [(f"{cell} overall exact match: ss/greedy {row['ss/greedy']['verdict_all']}",
              outcome(row["ss/greedy"]["verdict_all"])) for cell, row in _synthetic_cells(lengths).items()
             if "ss/greedy" in row and "verdict_all" in row["ss/greedy"]]
    parts += [(f"es-en/{model} BLEU: ss/greedy {row['ss/greedy']['verdict_bleu']}", outcome(row["ss/greedy"]["verdict_bleu"]))
              for model, row in _translation_models(lengths).items() if "ss/greedy" in row]
    return parts or [("scheduled sampling vs teacher forcing", None)]


def guide(lengths: dict | None, beam: dict | None, contrastive: dict | None,
          longform: dict | None = None) -> pd.DataFrame:
    """One row per claim: situation, approach, verdict, and the evidence (each part with its outcome)."""
    all_parts = (short_parts(lengths), long_parts(lengths), nmt_parts(beam), longform_parts(contrastive, longform),
                 default_parts(lengths))
    rows = []
    for (situation, approach), parts in zip(ROWS, all_parts):
        evidence = "; ".join(f"{text} [{o or 'not measured'}]" for text, o in parts)
        rows.append({"situation": situation, "approach": approach, "verdict": judge(parts), "evidence": evidence})
    return pd.DataFrame(rows)
