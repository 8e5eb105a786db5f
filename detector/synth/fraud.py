"""General customs fraud beside transshipment: undervaluation, misclassification, misdeclared quantity.

Real inspection outcomes record every kind of fraud an inspection finds, not only
transshipment. :func:`general_fraud` turns a share of the world's *honest* lines into
three labelled schemes (label 1, each its own scenario):

- ``undervaluation``: the declared value is 30-75 % of the true one (a price far below the
  line's HS x origin norm). Concentrated: a few importers undervalue most of their lines,
  helped by a few sellers that issue the low invoices.
- ``misclassification``: the line is declared under another subheading with a lower duty
  rate, of the same heading where the catalogue has one (bags of 4202) and else of the
  same chapter. The goods stay what they are: their weight, quantity and value are the
  true goods', so their unit value and unit weight fit the true subheading, not the
  declared one. Concentrated on a few importers.
- ``misdeclared_quantity``: either the quantity and the value are declared at 40-80 % of
  the truth with the true weight (a low price per kg and a heavy unit), or the weight is
  declared at 40-80 % of the truth with the true value and quantity (a high price per kg
  and a light unit). Concentrated on a few importers.

Every draw comes from a generator of its own (seeded from the world's seed), applied after
the world's own draws: a world with a fraud mix has the same transshipment, look-alikes,
ids and arrival order as the world of the same seed without one, and ``fraud_mix=0``
leaves the world byte-identical.
"""
from __future__ import annotations

import numpy as np

from detector.synth.entities import Catalogue
from detector.synth.parts import Rows, code

#: Scenario names of the general schemes, in code order (after the transshipment world's).
GENERAL_FRAUD: tuple[str, ...] = ("undervaluation", "misclassification", "misdeclared_quantity")
#: How a fraud mix is split between the schemes.
MIX_SPLIT: dict[str, float] = {"undervaluation": 0.5, "misclassification": 0.25, "misdeclared_quantity": 0.25}
#: Share of importers running each scheme, and how much likelier their lines are picked.
PARTY_SHARE, PARTY_WEIGHT = 0.04, 40.0
#: Share of exporters issuing low invoices, and how much likelier their lines are undervalued.
SELLER_SHARE, SELLER_WEIGHT = 0.03, 8.0
#: Mixed into the world's seed for the fraud generator (its own stream of draws).
_STREAM = 0xF4A0D


def fraud_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM])


def _pick(rng: np.random.Generator, eligible: np.ndarray, weight: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` distinct rows among ``eligible`` (indexes), drawn by ``weight``."""
    n = min(n, len(eligible))
    if n == 0:
        return np.empty(0, np.int64)
    return rng.choice(eligible, n, replace=False, p=weight / weight.sum())


def _party_weight(rng: np.random.Generator, party: np.ndarray, n_parties: int, share: float, weight: float) -> np.ndarray:
    bad = rng.random(n_parties) < share
    return np.where(bad[party], weight, 1.0)


def lower_duty_lines(c: Catalogue) -> np.ndarray:
    """For each HTS-10 line, a line of a lower-duty family it could be declared as (-1: none).

    Same heading first (the first four digits), else the same chapter; among the candidates
    the one with the lowest duty, and the same statistical suffix as the true line.
    """
    hs6 = np.array([h[:6] for h in c.hs10[:: len(c.hs10) // c.n_families]])
    heading = np.array([h[:4] for h in hs6])
    chapter = np.array([h[:2] for h in hs6])
    target = np.full(c.n_families, -1)
    for f in range(c.n_families):  # a few dozen families
        for same in (heading == heading[f], chapter == chapter[f]):
            cand = np.flatnonzero(same & (c.fam_duty < c.fam_duty[f]))
            if cand.size:
                target[f] = cand[np.argmin(c.fam_duty[cand])]
                break
    n_suffix = len(c.hs10) // c.n_families
    fam = c.h_fam
    suffix = np.arange(len(c.hs10)) % n_suffix
    return np.where(target[fam] >= 0, target[fam] * n_suffix + suffix, -1)


def general_fraud(rows: Rows, c: Catalogue, n_importers: int, n_exporters: int, mix: float, seed: int) -> Rows:
    """Turn about ``mix`` of all rows (taken from honest ones) into the general schemes, in place."""
    if mix <= 0:
        return rows
    rng = fraud_rng(seed)
    n = len(rows)
    honest = rows.scenario == code("honest")
    targets = lower_duty_lines(c)
    taken = np.zeros(n, bool)
    for name in GENERAL_FRAUD:
        count = int(round(mix * MIX_SPLIT[name] * n))
        weight = _party_weight(rng, rows.importer, n_importers, PARTY_SHARE, PARTY_WEIGHT)
        eligible = honest & ~taken
        if name == "undervaluation":
            weight = weight * _party_weight(rng, rows.exporter, n_exporters, SELLER_SHARE, SELLER_WEIGHT)
        if name == "misclassification":
            eligible &= targets[rows.line] >= 0
        idx = _pick(rng, np.flatnonzero(eligible), weight[eligible], count)
        taken[idx] = True
        if name == "undervaluation":
            rows.value[idx] = np.maximum(np.round(rows.value[idx] * rng.uniform(0.3, 0.75, idx.size), 2), 0.01)
        elif name == "misclassification":
            rows.line[idx] = targets[rows.line[idx]]
        else:
            share = rng.uniform(0.4, 0.8, idx.size)
            on_weight = rng.random(idx.size) < 0.5
            rows.weight[idx] = np.where(on_weight, np.maximum(np.round(rows.weight[idx] * share, 1), 0.1), rows.weight[idx])
            rows.quantity[idx] = np.where(on_weight, rows.quantity[idx], np.maximum(np.round(rows.quantity[idx] * share), 1.0))
            rows.value[idx] = np.where(on_weight, rows.value[idx], np.maximum(np.round(rows.value[idx] * share, 2), 0.01))
        rows.scenario[idx] = code(name)
    return rows
