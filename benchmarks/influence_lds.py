"""A small CNN on the digits, its linear datamodeling score (LDS) ground truth (issue 16).

The shared pieces of the issue's section 2 ("agreement with exact influence" and "agreement
with retraining") for a network small enough for a dense Hessian:

* :func:`small_cnn`: Conv2d(1, 4, 3), Tanh, Conv2d(4, 8, 3), Tanh, Flatten, Linear(128, 10):
  1,626 parameters (the ``cnn2`` net of ``tests/curation/test_influence_cnn.py``);
* :func:`data`: the digits / 16 as ``(n, 1, 8, 8)`` float32 images,
  ``train_test_split(train_size=N_TRAIN, random_state=0)``, the first ``N_TEST`` test images;
* :func:`train`: full-batch Adam (lr 0.01, L2 weight decay 1e-3 added to the gradient,
  ``EPOCHS`` steps, float32, one torch thread), deterministic given the seed of the
  initialisation;
* :func:`lds`: the linear datamodeling score of Park et al. (2023);
* ``python benchmarks/influence_lds.py shared``: trains the net on the whole training set
  and writes ``/tmp/lds_shared/small_cnn.pt`` and ``README.txt`` for the peers (captum,
  pyDVL) that run in another environment;
* ``python benchmarks/influence_lds.py truth``: the retrainings on random halves of the
  training set, written to ``/tmp/lds_shared/lds_truth.npz`` and
  ``benchmarks/results/lds-truth-small-cnn.npz``.

The influence methods themselves are compared in ``benchmarks/bench_influence_lds.py``.
"""

import inspect
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

N_TRAIN, N_TEST = 1000, 100
EPOCHS, LR, WEIGHT_DECAY = 400, 0.01, 1e-3
#: training steps after which TracInCP's checkpoints are taken (evenly spaced)
CHECKPOINT_STEPS = (80, 160, 240, 320, 400)
#: random halves of the training set and retraining seeds (initialisations) per half
N_SUBSETS, SEEDS = 60, (0, 1, 2)
SHARED = Path(os.environ.get("LDS_SHARED", "/tmp/lds_shared"))
RESULTS = Path(__file__).parent / "results"


def small_cnn(seed=0):
    """Two convolutions and a linear layer, tanh: 1,626 parameters (seeded initialisation)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.Tanh(),
        nn.Conv2d(4, 8, 3),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(128, 10),
    )


def data():
    """Digits / 16 as float32 tensors: X_train (1000, 1, 8, 8), y_train, X_test (100, ...), y_test."""
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(
        (X / 16.0).astype(np.float32), y, train_size=N_TRAIN, random_state=0
    )
    as_img = lambda a: torch.as_tensor(a.reshape(-1, 1, 8, 8))  # noqa: E731
    return as_img(Xtr), torch.as_tensor(ytr), as_img(Xte[:N_TEST]), torch.as_tensor(yte[:N_TEST])


def train(X, y, seed=0, checkpoints=()):
    """Full-batch Adam on the mean cross-entropy + 0.5 * WEIGHT_DECAY * ||theta||^2.

    Returns the trained net and the state dicts after the steps in ``checkpoints``.
    """
    net = small_cnn(seed)
    opt = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    saved = []
    for step in range(1, EPOCHS + 1):
        opt.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
        if step in checkpoints:
            saved.append({k: v.clone() for k, v in net.state_dict().items()})
    return net, saved


def test_losses(net, X, y):
    """Per-sample cross-entropy of the test points, float64 array of shape (n_test,)."""
    with torch.no_grad():
        return nn.functional.cross_entropy(net(X), y, reduction="none").double().numpy()


def lds(pred, masks, losses):
    """Linear datamodeling score (Park et al. 2023, TRAK, section 2.2), mean over test points.

    Parameters
    ----------
    pred : array of shape (n_test, n_train)
        Influence matrix, positive = helpful: up-weighting (keeping) training sample ``i``
        lowers test loss ``j`` (the sign of ``InfluenceScorer.influence``; its scale does
        not matter).
    masks : bool array of shape (M, n_train)
        The training samples each retraining kept.
    losses : array of shape (M, n_test)
        Test losses after each retraining (averaged over retraining seeds or not).

    Returns
    -------
    score : float
        For each test point ``j``, the Spearman correlation over the ``M`` subsets between
        the predicted loss of the subset, ``-sum_{i in S} pred[j, i]`` (a helpful sample
        kept lowers the loss, hence the minus sign), and the actual loss ``losses[:, j]``;
        the mean over test points. 1 = the subsets are ranked exactly as retraining ranks
        them; 0 = no relation; negative = the sign is reversed.
    per_test : array of shape (n_test,)
        The per-test-point correlations (NaN where a row is constant).
    """
    pred = np.asarray(pred, dtype=np.float64)
    predicted_loss = -np.asarray(masks, dtype=np.float64) @ pred.T  # (M, n_test)
    losses = np.asarray(losses, dtype=np.float64)
    per_test = np.array(
        [spearmanr(predicted_loss[:, j], losses[:, j])[0] for j in range(losses.shape[1])]
    )
    return float(np.nanmean(per_test)), per_test


README = """\
Shared files of sklearn-curate issue 16, section 2 (LDS on a small CNN). Written by
benchmarks/influence_lds.py on branch infl-lds (`python benchmarks/influence_lds.py shared`).

small_cnn.pt (torch.load(..., weights_only=False)) is a dict:
  arch_source     python source of small_cnn(seed): Conv2d(1,4,3) Tanh Conv2d(4,8,3) Tanh
                  Flatten Linear(128,10), 1,626 parameters. exec() it (needs `import torch`,
                  `from torch import nn`) and load "state_dict" into small_cnn().
  state_dict      the trained net: full-batch Adam, lr {lr}, weight_decay {wd} (torch Adam's L2,
                  added to the gradient, so the objective is mean cross-entropy
                  + 0.5 * {wd} * ||theta||^2 over all parameters), {epochs} steps, seed 0, float32.
  checkpoints     state dicts after steps {ckpt} (for TracInCP).
  checkpoint_lrs  the learning rate at each checkpoint (constant {lr}; Adam).
  X_train (1000, 1, 8, 8) float32, y_train (1000,) int64, X_test (100, 1, 8, 8), y_test (100,):
                  digits / 16, train_test_split(train_size=1000, random_state=0), first 100 test.
  weight_decay    {wd}
  loss            per-sample cross-entropy (torch.nn.functional.cross_entropy).

Peers write peers_small_cnn.npz here: one key per method (e.g. "tracincp",
"captum_arnoldi", "pydvl_ekfac"), each float64 array of shape (n_test, n_train) = (100, 1000),
plus "<name>_seconds" (fit + all influences, wall-clock, one thread). SIGN: positive = helpful
= up-weighting training point i LOWERS test loss j (the sign of sklearn-curate's
InfluenceScorer.influence, which predicts L_j(theta without i) - L_j(theta); captum's
TracInCP and influence scores and pyDVL's influences already have this sign: grad L_test^T
H^-1 grad l_i without a minus). Scale does not matter (Spearman only). Also write
"<name>_damping" if the method has one, and a "<name>_notes" string if useful.

lds_truth.npz: masks (M, 1000) bool, the training points each retraining kept (random halves);
losses (M, 100) float64, the test cross-entropies averaged over the retraining seeds;
losses_per_seed (n_seeds, M, 100); seeds. Retraining = the same train() from
small_cnn(seed) on the subset. The LDS: `from influence_lds import lds` (benchmarks/ on
branch infl-lds; a copy is influence_lds.py here), lds(pred, masks, losses)[0].
"""


def write_shared():
    torch.set_num_threads(1)
    SHARED.mkdir(parents=True, exist_ok=True)
    Xtr, ytr, Xte, yte = data()
    t0 = time.perf_counter()
    net, ckpts = train(Xtr, ytr, seed=0, checkpoints=CHECKPOINT_STEPS)
    seconds = time.perf_counter() - t0
    torch.save(
        {
            "state_dict": net.state_dict(),
            "checkpoints": ckpts,
            "checkpoint_steps": list(CHECKPOINT_STEPS),
            "checkpoint_lrs": [LR] * len(CHECKPOINT_STEPS),
            "X_train": Xtr,
            "y_train": ytr,
            "X_test": Xte,
            "y_test": yte,
            "weight_decay": WEIGHT_DECAY,
            "arch_source": inspect.getsource(small_cnn),
        },
        SHARED / "small_cnn.pt",
    )
    (SHARED / "README.txt").write_text(
        README.format(lr=LR, wd=WEIGHT_DECAY, epochs=EPOCHS, ckpt=list(CHECKPOINT_STEPS))
    )
    (SHARED / "influence_lds.py").write_text(Path(__file__).read_text())
    with torch.no_grad():
        acc = float((net(Xte).argmax(1) == yte).float().mean())
    print(f"trained in {seconds:.2f} s; test accuracy {acc:.3f}; wrote {SHARED}")


def write_truth():
    """Retrain on N_SUBSETS random halves x len(SEEDS) initialisations; save masks, losses."""
    torch.set_num_threads(1)
    Xtr, ytr, Xte, yte = data()
    rng = np.random.default_rng(0)
    masks = np.zeros((N_SUBSETS, N_TRAIN), dtype=bool)
    for m in range(N_SUBSETS):
        masks[m, rng.choice(N_TRAIN, N_TRAIN // 2, replace=False)] = True
    per_seed = np.empty((len(SEEDS), N_SUBSETS, N_TEST))
    t0 = time.perf_counter()
    for m in range(N_SUBSETS):
        keep = torch.as_tensor(masks[m])
        for s, seed in enumerate(SEEDS):
            net, _ = train(Xtr[keep], ytr[keep], seed=seed)
            per_seed[s, m] = test_losses(net, Xte, yte)
        if m % 10 == 9:
            print(f"{m + 1} subsets, {time.perf_counter() - t0:.0f} s", flush=True)
    seconds = time.perf_counter() - t0
    out = dict(
        masks=masks,
        losses=per_seed.mean(0),
        losses_per_seed=per_seed,
        seeds=np.array(SEEDS),
        seconds=seconds,
    )
    SHARED.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(SHARED / "lds_truth.npz", **out)
    RESULTS.mkdir(exist_ok=True)
    np.savez_compressed(RESULTS / "lds-truth-small-cnn.npz", **out)
    print(f"{N_SUBSETS} subsets x {len(SEEDS)} seeds retrained in {seconds:.0f} s")


if __name__ == "__main__":
    {"shared": write_shared, "truth": write_truth}[sys.argv[1]]()
