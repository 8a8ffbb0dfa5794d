"""``qa-bench``: plant failures with masks.synth, run masks.qa, score the findings.

A finding matches a planted defect of the same kind whose bbox it overlaps. Recall is per kind
(matched defects / planted); a false finding matches no defect of its kind. The ground-truth
masks are analysed too: every finding there is false.

Image ``i`` of a run with seed ``S`` is painted and degraded with seed ``S * 100_000 + i``, so
runs with different seeds (up to 100 000 images each) share no image: a seed used to tune the
detectors says nothing about another seed's figures.
"""
from __future__ import annotations

import time

import numpy as np

from masks import qa, synth
from masks.errors import MaskError

IMAGES_PER_SEED = 100_000  # image seeds of one run: seed * IMAGES_PER_SEED + 0 … count − 1


def _overlap(a, b) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def score(findings, defects):
    """(matched flags per defect, number of false findings) for one image."""
    matched = [False] * len(defects)
    false = 0
    for f in findings:
        hit = False
        for j, d in enumerate(defects):
            if d.kind == f.kind and _overlap(f.bbox, d.bbox):
                matched[j] = True
                hit = True
        false += not hit
    return matched, false


def run(count: int = 200, seed: int = 0, size=(800, 600), progress=None) -> dict:
    """Score ``count`` synthetic images (kinds and backdrops in turn). Returns a dict of figures."""
    if not 1 <= count <= IMAGES_PER_SEED:
        raise MaskError(f"count: between 1 and {IMAGES_PER_SEED}, got {count}")
    planted = {k: 0 for k in synth.DEFECT_KINDS}
    found = {k: 0 for k in synth.DEFECT_KINDS}
    false_by_kind = {k: 0 for k in qa.KINDS}
    gt_false_by_kind = {k: 0 for k in qa.KINDS}
    false_total = gt_false_total = 0
    t_analyse = []
    misses = []
    for i in range(count):
        kind = synth.KINDS[i % len(synth.KINDS)]
        backdrop = synth.BACKDROPS[(i // len(synth.KINDS)) % len(synth.BACKDROPS)]
        image_seed = seed * IMAGES_PER_SEED + i
        s = synth.generate(kind, image_seed, size, backdrop)
        ai, defects = synth.degrade(s.image, s.alpha, image_seed)
        t0 = time.perf_counter()
        report = qa.analyse(s.image, ai)
        t_analyse.append(time.perf_counter() - t0)
        matched, _ = score(report.findings, defects)
        for d, ok in zip(defects, matched):
            planted[d.kind] += 1
            found[d.kind] += ok
            if not ok:
                misses.append({"image": i, "image_seed": image_seed, "kind": kind, "backdrop": backdrop, "defect": d.to_dict()})
        for f in report.findings:
            if not any(d.kind == f.kind and _overlap(f.bbox, d.bbox) for d in defects):
                false_by_kind[f.kind] += 1
                false_total += 1
        gt_report = qa.analyse(s.image, s.alpha)
        for f in gt_report.findings:
            gt_false_by_kind[f.kind] += 1
            gt_false_total += 1
        if progress:
            progress(i + 1, count)
    return {
        "count": count, "seed": seed, "size": list(size),
        "recall": {k: (found[k] / planted[k] if planted[k] else None) for k in synth.DEFECT_KINDS},
        "planted": planted, "found": found,
        "false_per_image": false_total / max(1, count),
        "false_by_kind": false_by_kind,
        "gt_false_per_image": gt_false_total / max(1, count),
        "gt_false_by_kind": gt_false_by_kind,
        "analyse_ms_median": 1000 * float(np.median(t_analyse)) if t_analyse else None,
        "misses": misses,
    }


def bench_24mp(repeats: int = 3, seed: int = 1) -> dict:
    """Wall time (s) of qa.analyse on 6000 × 4000 synthetic photos with planted defects, one per
    kind of jewelry (backdrops in turn): the median of ``repeats`` runs per photo, and the worst
    of those medians. Generating the photo is not timed; the analysis is, from the uint8 arrays."""
    per_kind, matched_total, planted_total, false_total = {}, 0, 0, 0
    for k, kind in enumerate(synth.KINDS):
        backdrop = synth.BACKDROPS[k % len(synth.BACKDROPS)]
        s = synth.generate(kind, seed, (6000, 4000), backdrop)
        ai, defects = synth.degrade(s.image, s.alpha, seed)
        times, report = [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            report = qa.analyse(s.image, ai)
            times.append(time.perf_counter() - t0)
        matched, false = score(report.findings, defects)
        per_kind[kind] = {"backdrop": backdrop, "analyse_s_median": round(float(np.median(times)), 3),
                          "analyse_s_all": [round(t, 3) for t in times]}
        matched_total += int(sum(matched))
        planted_total += len(defects)
        false_total += false
    return {"size": [6000, 4000], "per_kind": per_kind,
            "analyse_s_worst_median": max(v["analyse_s_median"] for v in per_kind.values()),
            "planted": planted_total, "matched": matched_total, "false": false_total}


def format_table(res: dict) -> str:
    lines = [f"qa-bench: {res['count']} images {res['size'][0]}x{res['size'][1]}, seed {res['seed']}",
             f"{'kind':<20}{'planted':>8}{'found':>7}{'recall':>8}{'false':>7}{'false on gt':>12}"]
    for k in synth.DEFECT_KINDS:
        r = res["recall"][k]
        lines.append(f"{k:<20}{res['planted'][k]:>8}{res['found'][k]:>7}"
                     f"{('%.3f' % r) if r is not None else '-':>8}{res['false_by_kind'][k]:>7}"
                     f"{res['gt_false_by_kind'][k]:>12}")
    lines.append(f"false findings per image: degraded {res['false_per_image']:.3f}, "
                 f"ground truth {res['gt_false_per_image']:.3f}")
    if res.get("analyse_ms_median") is not None:
        lines.append(f"analyse median {res['analyse_ms_median']:.1f} ms per image")
    return "\n".join(lines)
