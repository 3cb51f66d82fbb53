"""Headline numbers and the generated takeaway of the long-sentence NMT study (notebook 02)."""
from __future__ import annotations

from seqgap_lab.lessons.translation.study import StudyResult

WEAK_BLEU = 5.0  # below this a model translates too little for a length trend to mean much


WEAK_NOTE = (f" With BLEU under {WEAK_BLEU:.0f} this model is still too weak for its length trend to carry weight: "
             "train longer (the `full` profile) before reading it.")


def headline(result: StudyResult) -> dict:
    """Per-model headline numbers for summary.json."""
    out = {}
    for kind, ov in result.overall.groupby("model"):
        buckets = result.by_bucket[result.by_bucket["model"] == kind]
        comp = result.compounding[result.compounding["model"] == kind].pivot(index="k", columns="prefix",
                                                                              values="loss")
        k_max = int(comp.index.max())
        out[kind] = {
            "bleu": float(ov["bleu"].iloc[0]), "chrf": float(ov["chrf"].iloc[0]),
            "length_ratio": float(ov["length_ratio"].iloc[0]),
            **{f"{m}_{end}_bucket": float(buckets[m].iloc[i])
               for m in ("bleu", "chrf") for end, i in (("shortest", 0), ("longest", -1))},
            "shortest_bucket": str(buckets["bucket"].iloc[0]), "longest_bucket": str(buckets["bucket"].iloc[-1]),
            "compounding_k": k_max, "continuation_loss_gold_prefix": float(comp.loc[k_max, "gold"]),
            "continuation_loss_model_prefix": float(comp.loc[k_max, "model"]),
        }
    return out


def takeaway(head: dict, signature: str) -> str:
    """Markdown takeaway with every number read from `head`."""
    lines = [f"sacrebleu: `{signature}`"]
    for kind, h in head.items():
        trend = "fall" if h["bleu_longest_bucket"] < h["bleu_shortest_bucket"] else "do not fall"
        lines.append(
            f"- **{kind}**: BLEU {h['bleu']:.1f}, chrF {h['chrf']:.1f} (length ratio {h['length_ratio']:.2f}). "
            f"From the shortest ({h['shortest_bucket']} words) to the longest ({h['longest_bucket']}) source bucket "
            f"BLEU goes {h['bleu_shortest_bucket']:.1f} -> {h['bleu_longest_bucket']:.1f} and chrF "
            f"{h['chrf_shortest_bucket']:.1f} -> {h['chrf_longest_bucket']:.1f}: scores {trend} with length. "
            f"After {h['compounding_k']} tokens written by the model itself, its loss on the reference "
            "continuation (after the aligned prefix) "
            f"is {h['continuation_loss_model_prefix']:.2f} nats/token vs {h['continuation_loss_gold_prefix']:.2f} "
            "after the gold prefix." + (WEAK_NOTE if h["bleu"] < WEAK_BLEU else ""))
    return "\n".join(lines)
