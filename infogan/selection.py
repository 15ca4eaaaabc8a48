"""Label-free model selection over a sweep's members: ModelCentrality (InfoGAN-CR, Lin et al.,
ICML 2020, section 5: "InfoGAN-CR: Disentangling generative adversarial networks with
contrastive regularizers").

The idea: good disentangled models agree with each other up to a permutation of their codes;
bad ones each fail in their own way. For members i and j, member i's generator makes a labelled
set (votes: batches with one of i's codes held fixed, the label being that code), and member j's
Q encodes it; `cross[i, j]` is the FactorVAE-metric score of j's codes on i's set (Kim & Mnih
2018: per batch, the code with the least spread relative to its spread over free samples of i's
generator votes for the fixed code; a majority-vote classifier maps j's codes to i's codes; the
score is its accuracy on the same votes, no split, as in the authors' code). The score is
invariant to how j orders its codes, so a permuted copy of a good model scores as high as the
model itself. S = (cross + cross.T) / 2; a member's centrality is its mean S over the others.

Categorical codes (the paper's dSprites models have none) enter through Q's argmax: their spread
is the share of a batch that disagrees with the batch's most common category, normalised by the
same share over free samples, so a held category counts like a held continuous value.

Beside it (rank_members), criteria that read what each member does to the same real images:
partition consensus, how alike members' categorical codes split 2,000 real training images (no
labels), and the Fréchet distance of its samples in the judge's features (quality.py).

Defaults, chosen for CPUs: 300 votes of 32 images and 2,000 free images per member (InfoGAN-CR's
FactorVAE metric used larger counts); Q's BatchNorm statistics re-estimated on 2,000 real images
of the member's dataset, as every other evaluation here does (checkpoint.py).

`select` ranks a sweep's members and stores the result in its sweep.json; `against_labels` says,
where members have labels or ground truth, how the label-free pick compares (never used to pick)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import latent
from .budget import FULL, Budget
from .checkpoint import code_values, encode, load_model, real_data_encoder
from .data import load
from .models import generate_uint8
from .runs import Run, RunError
from .scores import LOWER_IS_BETTER, TRUTH_SCORES
from .sweeps import Sweep

VOTES, BATCH, FREE, REFERENCE = 300, 32, 2_000, 2_000


@dataclass
class Candidate:
    """What ModelCentrality needs of a model: its codes' kinds, a way to draw images with one
    code held fixed per batch, and an encoder from images to one point estimate per code."""

    name: str
    kinds: list[str]  # "cat" or "cont", per code, in the encoder's column order
    fixed: Callable[[int, int, np.random.Generator], tuple[np.ndarray, torch.Tensor]]  # -> (codes held, images)
    free: Callable[[int, np.random.Generator], torch.Tensor]
    encode: Callable[[torch.Tensor], np.ndarray]  # images -> (N, codes)


def spreads(values: np.ndarray, kinds: list[str], axis: int) -> np.ndarray:
    """Per code along `axis`: variance for a continuous code, for a categorical one the share
    of values that differ from the most common value."""
    out = []
    for d, kind in enumerate(kinds):
        v = np.take(values, d, axis=-1)
        if kind == "cont":
            out.append(np.var(v, axis=axis, ddof=1))
        else:
            v = np.moveaxis(v.astype(np.int64), axis, -1)
            counts = (v[..., None] == np.arange(int(values[..., d].max()) + 1)).sum(-2)
            out.append(1.0 - counts.max(-1) / v.shape[-1])
    return np.stack(out, -1)


def factor_vae_score(held: np.ndarray, batches: np.ndarray, free: np.ndarray, kinds: list[str],
                     n_held: int) -> float:
    """held (V,) codes held fixed; batches (V, B, D) an encoder's codes; free (N, D) the same
    encoder's codes on free samples. Codes that never vary (collapsed) cannot vote."""
    glob = spreads(free, kinds, axis=0)
    active = glob > 0
    if not active.any():
        return 0.0
    local = spreads(batches, kinds, axis=1)[:, active] / glob[active]
    votes = np.zeros((int(active.sum()), n_held), dtype=np.int64)
    np.add.at(votes, (np.argmin(local, axis=1), held), 1)
    return float(votes.max(axis=1).sum() / max(votes.sum(), 1))


def cross_scores(members: list[Candidate], seed: int = 0, votes: int = VOTES, batch: int = BATCH,
                 n_free: int = FREE, progress: Callable[[str, float], None] | None = None) -> np.ndarray:
    """cross[i, j]: member j's codes scored on member i's labelled set (see the module doc)."""
    n = len(members)
    cross = np.zeros((n, n))
    for i, mi in enumerate(members):
        rng = np.random.default_rng([seed, i])
        held, images = mi.fixed(votes, batch, rng)
        free = mi.free(n_free, rng)
        for j, mj in enumerate(members):
            if progress:
                progress(f"{mj.name} on {mi.name}'s images", (i * n + j) / (n * n))
            codes = mj.encode(torch.cat([images, free]))
            cross[i, j] = factor_vae_score(held, codes[:len(images)].reshape(votes, batch, -1),
                                           codes[len(images):], mj.kinds, len(mi.kinds))
    return cross


def centrality(cross: np.ndarray) -> np.ndarray:
    """Each member's mean symmetrised score against the others."""
    s = (cross + cross.T) / 2
    n = len(s)
    return (s.sum(1) - np.diag(s)) / max(n - 1, 1)


def run_candidate(run: Run, reference: torch.Tensor, step: int | None = None) -> Candidate:
    """A member's newest (or given) checkpoint as a Candidate; `reference`: real uint8 images
    for Q's BatchNorm statistics."""
    model = load_model(run, step)
    cfg, codes = model.cfg, latent.codes_of(model.cfg)
    q_net = real_data_encoder(model.D, reference)

    def draw(n: int, rng: np.random.Generator) -> latent.Latent:
        return latent.sample(cfg, n, generator=torch.Generator().manual_seed(int(rng.integers(2**62))))

    def images(lat: latent.Latent) -> torch.Tensor:
        return generate_uint8(model.G, cfg, lat)

    def fixed(votes: int, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, torch.Tensor]:
        held = rng.integers(0, len(codes), votes)
        lat, anchor = draw(votes * batch, rng), draw(votes, rng)
        rows = torch.arange(votes * batch) // batch
        for k, code in enumerate(codes):
            pick = torch.from_numpy(held[rows.numpy()] == k)
            field, value = (lat.cat, anchor.cat) if code.kind == "cat" else (lat.cont, anchor.cont)
            field[pick, code.index] = value[rows[pick], code.index]
        return held, images(lat)

    def encode_codes(imgs: torch.Tensor) -> np.ndarray:
        return code_values(cfg, encode(q_net, imgs))[1]

    return Candidate(run.name, [c.kind for c in codes], fixed, lambda n, rng: images(draw(n, rng)), encode_codes)


def categorical_partition(codes: np.ndarray, kinds: list[str]) -> np.ndarray | None:
    """One cluster label per image from every categorical column of an encoder's codes (their
    joint value), or None for a member without categorical codes."""
    cats = codes[:, [d for d, kind in enumerate(kinds) if kind == "cat"]]
    if cats.shape[1] == 0:
        return None
    return np.unique(cats, axis=0, return_inverse=True)[1].ravel()


def partition_agreement(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise agreement of members' partitions of the same images: normalised mutual
    information and adjusted Rand index (scikit-learn), both invariant to relabelling, so two
    members that split the images alike agree whatever their categories are called."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    n = len(parts)
    nmi, ari = np.eye(n), np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            nmi[i, j] = nmi[j, i] = normalized_mutual_info_score(parts[i], parts[j])
            ari[i, j] = ari[j, i] = adjusted_rand_score(parts[i], parts[j])
    return nmi, ari


def member_quality(run: Run, step: int, budget: Budget = FULL) -> dict[str, Any] | None:
    """The sample-quality numbers of a member's checkpoint: from its eval.json when the same
    judge made them (numbers from two judges do not compare), else measured now; None where
    its dataset has no judge."""
    from . import quality
    from .judge import judge_for, judge_key

    cfg = run.config()
    if not judge_key(cfg.dataset):
        return None
    judge = judge_for(cfg, budget=budget)
    saved = (run.eval_result(step) or {}).get("quality") or {}
    if (saved.get("judge") or {}).get("trained") == judge.info["trained"] \
            and isinstance(saved.get("fd"), (int, float)) and not isinstance(saved.get("fd"), bool):
        return saved
    model = load_model(run, step)  # at the size its evaluation used (FD depends on it), if eval.json says a sane one
    n = saved.get("n")
    n = n if isinstance(n, int) and not isinstance(n, bool) and 1 < n <= quality.N_FD else quality.N_FD
    return quality.sample_quality(model.G, model.cfg, quality.reference(judge, model.cfg, budget.cap(n)))


RULE = ("partition consensus: the member whose categorical codes split the same real images most like the "
        "other members' do (mean NMI); ModelCentrality where members have no categorical code")


def rank_members(runs: list[Run], seed: int = 0, progress: Callable[[str, float], None] | None = None,
                 votes: int = VOTES, batch: int = BATCH, n_free: int = FREE, sample_quality: bool = True,
                 budget: Budget = FULL) -> dict[str, Any]:
    """Every label-free criterion over the runs' newest checkpoints, each a score per member
    (higher is better except FD): ModelCentrality; partition consensus by NMI and by ARI (Q's
    categorical partition of the same REFERENCE real images, labels unused, mean agreement with
    the others); and, unless `sample_quality` is False (its judge may have to train first), the
    Fréchet distance in the judge's features. The pick follows RULE."""
    if len(runs) < 2:
        raise ValueError("ranking needs at least two members with a checkpoint")
    references: dict[tuple, torch.Tensor] = {}
    members, keys = [], []
    for run in runs:
        cfg = run.config()
        key = (cfg.dataset, cfg.data_dir, cfg.image_size)
        if key not in references:  # the same real images for every member of a dataset
            data = load(cfg.replace(subset=0))
            idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:REFERENCE]
            references[key] = data.images[idx]
        members.append(run_candidate(run, references[key]))
        keys.append(key)
    cross = cross_scores(members, seed, votes, batch, n_free, progress)
    cent = centrality(cross)
    steps = [run.checkpoint_steps()[-1] for run in runs]
    criteria: dict[str, list[float | None]] = {"centrality": cent.round(4).tolist()}
    parts = [categorical_partition(m.encode(references[k]), m.kinds) for m, k in zip(members, keys)]
    if all(p is not None for p in parts) and len(set(keys)) == 1:
        nmi, ari = partition_agreement(parts)
        criteria |= {"consensus_nmi": centrality(nmi).round(4).tolist(),
                     "consensus_ari": centrality(ari).round(4).tolist()}
    if sample_quality:
        if progress:
            progress("sample quality of each member", 0.99)
        fds = [(member_quality(run, s, budget) or {}).get("fd") for run, s in zip(runs, steps)]
        if all(f is not None for f in fds):
            criteria["fd"] = [round(float(f), 4) for f in fds]
    by = "consensus_nmi" if "consensus_nmi" in criteria else "centrality"
    order = np.argsort(-np.asarray(criteria[by]), kind="stable")
    return {"method": "label-free ranking: ModelCentrality (InfoGAN-CR), partition consensus, Fréchet distance",
            "rule": RULE, "by": by, "names": [r.name for r in runs], "steps": steps,
            "cross": cross.round(4).tolist(), "centrality": criteria["centrality"], "criteria": criteria,
            "ranking": [runs[i].name for i in order], "pick": runs[int(order[0])].name, "seed": seed,
            "counts": {"votes": votes, "batch": batch, "free": n_free, "reference": REFERENCE}}


def select(sweep: Sweep, say: Callable[[str], None] = print, budget: Budget = FULL, **counts: int | bool
           ) -> dict[str, Any]:
    """The label-free criteria over the members with a checkpoint (`counts`: votes, batch, n_free,
    sample_quality for rank_members, over `budget`'s); stored in sweep.json as `selection`."""
    counts = {**budget.select, **counts}
    runs = [r for r in sweep.runs() if r.checkpoint_steps()]
    t0 = time.perf_counter()
    say(f"{sweep.name}: ranking {len(runs)} members without labels")
    try:
        result = rank_members(runs, budget=budget, **counts)
    except (RunError, ValueError, RuntimeError) as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    if "pick" in result:
        result.update(against_labels(sweep, result))
    sweep.update(selection=result)
    say(f"{sweep.name}: " + (f"label-free pick {result['pick']} (by {result['by']})" if "pick" in result
                             else result["error"]))
    return result


def against_labels(sweep: Sweep, result: dict[str, Any]) -> dict[str, Any]:
    """Where members have a score that needs labels or ground truth (accuracy; on dSprites
    FactorVAE and MIG from their evaluations), how the label-free pick compares, per score: its
    value, the best and the median member's; and per criterion, its Spearman correlation with
    the score (FD negated, so +1 always means "ranks like the score") and its top member's score."""
    from .sweeps import final_table

    table = final_table(sweep).set_index("member")
    out = {}
    for measure in TRUTH_SCORES:
        truth = table[measure].dropna().astype(float) if measure in table else None
        if truth is not None and len(truth) >= 2 and result["pick"] in truth:
            out[measure] = _against(result, truth, measure)
    return out


def _against(result: dict[str, Any], truth: Any, measure: str) -> dict[str, Any]:
    """One score's comparison for `against_labels` (truth: the members' scores, a Series by name)."""
    from scipy.stats import spearmanr

    criteria = result.get("criteria") or {"centrality": result["centrality"]}
    per: dict[str, dict[str, Any]] = {}
    for name, values in criteria.items():
        sign = -1.0 if name in LOWER_IS_BETTER else 1.0
        score = {n: sign * v for n, v in zip(result["names"], values) if v is not None and n in truth}
        names = list(score)
        rho = spearmanr([score[n] for n in names], [truth[n] for n in names]).statistic if len(names) > 2 else None
        top = max(names, key=lambda n: score[n]) if names else None
        per[name] = {"spearman": None if rho is None or rho != rho else round(float(rho), 4),
                     "top": top, f"top_{measure}": None if top is None else float(truth[top])}
    rho = per.get("centrality", {}).get("spearman")
    return {"pick": float(truth[result["pick"]]), "best": float(truth.max()), "best_member": truth.idxmax(),
            "median": float(truth.median()), "n": len(truth), f"spearman_centrality_{measure}": rho,
            "criteria": per}
