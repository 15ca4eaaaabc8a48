"""The names of every score the project writes and reads, how people read them, and which way
is better: one spelling for eval.json's readers (summary), the charts (figures), sweeps and
selection, sample quality and the pages. The metrics.jsonl names are in DESIGN.md."""

from __future__ import annotations

# summary.eval_row's columns, by what an evaluation needs to compute them
LABEL_SCORES = ("accuracy", "slant_rho", "width_rho")  # labels (MNIST-like)
FACTOR_SCORES = ("mig", "factor_vae", "dci_disentanglement")  # ground-truth factors (also logged live)
QUALITY = ("fd", "score", "precision", "recall", "density", "coverage")  # the judge's features
EVAL_COLUMNS = (*LABEL_SCORES, *QUALITY, *FACTOR_SCORES)

# every scalar of a ground-truth evaluation (metrics.evaluate_all), in the order tables show them
GROUND_TRUTH = ("mig", "factor_vae", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap",
                "modularity", "explicitness")

# scores that need labels or ground truth: a label-free pick is compared with them, never picked by them
TRUTH_SCORES = ("accuracy", "factor_vae", "mig")

LOWER_IS_BETTER = ("fd",)

LABELS = {"accuracy": "accuracy (Hungarian)", "slant_rho": "slant |ρ|", "width_rho": "width |ρ|", "mig": "MIG",
          "factor_vae": "FactorVAE", "dci_disentanglement": "DCI disentanglement", "fd": "FD",
          "score": "classifier score", "precision": "precision", "recall": "recall", "density": "density",
          "coverage": "coverage"}
