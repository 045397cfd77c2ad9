"""InfluenceScorer against pyDVL and captum on the digits (a standalone script).

Not a pytest benchmark: run it in a separate environment, because pyDVL 0.10 needs
numpy < 2 (see docs/benchmarks.md, "Influence functions against pyDVL and captum")::

    python3 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install torch==2.13.0          # the CPU build
    /work/peers-venv/bin/pip install "numpy<2" "pydvl[influence]==0.10.*" captum
    /work/peers-venv/bin/pip install --no-deps -e .
    /work/peers-venv/bin/python benchmarks/peers/influence_peers.py

Setting: digits / 16, ``train_test_split(train_size=1500, random_state=0)`` (297 test),
10-class ``LogisticRegression(C=1)``, fitted once. Every method computes the influence
of all 1,500 training points on the first 5 and the first 100 test points at the SAME
parameters (scikit-learn's fit refined by InfluenceScorer's Newton polish, gradient
norm < 1e-10) in float64.

The objective is ``total = C * sum_i CE_i + 0.5 ||W||^2`` (intercept unpenalised).
The peers take ``(model, loss)`` and differentiate a loss of the model output only,
so the L2 term of the weights only is passed through the model: the torch model gets
one extra input column ``r`` and returns ``[logits, r * 0.5 ||W||^2]``; the loss adds
the last output column. Rows used for the Hessian carry ``r = 1 / (n C)`` (pyDVL, mean
loss) or ``r = 1 / n`` (captum, summed loss); rows whose gradients are taken (training
and test points) carry ``r = 0``, so their gradients are those of the cross-entropy
alone. The Hessians are then exactly

* pyDVL (mean of the batch loss ``CE_mean + mean(r * 0.5||W||^2)``): ``H / (n C)``;
* captum (sum of ``C * CE_i + r_i * 0.5||W||^2``): ``H``;

where ``H`` is the Hessian of ``total`` (our "exact"). No regularisation / damping is
added by default (captum: ``hessian_reg=0``, all 650 eigenpairs, ``projection_dim=650``,
its eigenvalue cut-off 1e-5 drops the exact null direction "same constant added to
every intercept", which every gradient is orthogonal to).

Sign and scale: ours ``influence[j, i] = C g_j^T H^-1 g_i`` (predicted change of test
loss j when i is removed). pyDVL returns ``<(H/(nC))^-1 g_j, g_i> = n * ours``, captum
``<H^-1 g_j, C g_i> = ours`` (its train loss is ``C * CE``, its test loss ``CE``); the
sign of each is checked against ours (the fitted least-squares factor is printed).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from sklearn_curate.curation.influence import InfluenceScorer

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

REPEATS = int(os.environ.get("INFLUENCE_PEERS_REPEATS", 3))
BUDGET_S = 60.0  # skip a configuration whose predicted run exceeds this
C = 1.0
N_SMALL, N_LARGE = 5, 100
HERE = os.path.dirname(os.path.abspath(__file__))
OUT_JSON = os.path.join(HERE, "..", "results", "influence_peers.json")

torch.set_default_dtype(torch.float64)


def data():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, train_size=1500, random_state=0)


class PenalisedLinear(torch.nn.Module):
    """Linear(64, 10) whose output carries the L2 term of its weights, scaled by r."""

    def __init__(self, W, b):
        super().__init__()
        self.lin = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            self.lin.weight.copy_(torch.as_tensor(W))
            self.lin.bias.copy_(torch.as_tensor(b))

    def forward(self, x):
        logits = self.lin(x[..., :-1])
        pen = x[..., -1:] * (0.5 * (self.lin.weight**2).sum())
        return torch.cat([logits, pen], -1)


def augment(X, r):
    X = torch.as_tensor(np.asarray(X, dtype=np.float64))
    return torch.cat([X, torch.full((X.shape[0], 1), float(r))], 1)


def timed(fn, repeats=REPEATS, budget=BUDGET_S):
    """Best and median seconds of ``repeats`` calls (fewer if one exceeds budget)."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
        if times[-1] > budget:
            break
    return out, times


def agreement(ref, other, factor):
    """Spearman per test point and pooled Pearson of ``other * factor`` vs ``ref``."""
    other = np.asarray(other, dtype=np.float64) * factor
    sp = [spearmanr(ref[j], other[j])[0] for j in range(ref.shape[0])]
    fitted = float((other * ref).sum() / (ref * ref).sum())
    rel = float(np.linalg.norm(other - ref) / np.linalg.norm(ref))
    return {
        "spearman_min": float(np.min(sp)),
        "spearman_mean": float(np.mean(sp)),
        "pearson_pooled": float(pearsonr(ref.ravel(), other.ravel())[0]),
        "fitted_factor_after_rescaling": fitted,
        "relative_error": rel,
    }


def pkg_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine():
    cpu = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return {
        "nproc": int(nproc) if nproc else os.cpu_count(),
        "cpu": cpu,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def code_state():
    """Git commit of the checkout and hashes of the influence code actually imported."""
    import hashlib

    import sklearn_curate.curation.influence as mod

    root = os.path.dirname(os.path.dirname(os.path.abspath(mod.__file__)))
    out = {}
    for name in ("influence.py", "_influence_core.py"):
        path = os.path.join(os.path.dirname(mod.__file__), name)
        with open(path, "rb") as fh:
            out[f"sha256 {name}"] = hashlib.sha256(fh.read()).hexdigest()
    try:
        git = ["git", "-C", root]
        out["git_head"] = subprocess.run(
            git + ["rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        out["influence_code_modified_vs_head"] = bool(
            subprocess.run(
                git
                + [
                    "status",
                    "--porcelain",
                    "sklearn_curate/influence.py",
                    "sklearn_curate/_influence_core.py",
                ],
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
    except OSError:
        pass
    return out


def main():
    state = code_state()
    Xtr, Xte, ytr, yte = data()
    n = Xtr.shape[0]
    results = []

    def record(name, n_test, setup_s, times, values, ref, factor, hessian, notes=""):
        row = {
            "method": name,
            "n_test": n_test,
            "setup_seconds": setup_s,
            "seconds_best": float(min(times)) if times else None,
            "seconds_median": float(statistics.median(times)) if times else None,
            "seconds_all": [float(t) for t in times],
            "hessian": hessian,
            "scale_factor_to_ours": factor,
            "notes": notes,
        }
        if values is not None and ref is not None:
            row.update(agreement(ref, values, factor))
        results.append(row)
        sp = row.get("spearman_min")
        print(
            f"{name:34s} n_test={n_test:3d} setup {setup_s if setup_s is not None else float('nan'):6.2f} s"
            f"  best {row['seconds_best'] if times else float('nan'):7.3f} s"
            f"  median {row['seconds_median'] if times else float('nan'):7.3f} s"
            + (
                f"  spearman min {sp:.4f} mean {row['spearman_mean']:.4f}"
                f" pearson {row['pearson_pooled']:.5f} fitted {row['fitted_factor_after_rescaling']:+.4f}"
                if sp is not None
                else ""
            )
            + (f"  [{notes}]" if notes else ""),
            flush=True,
        )
        return row

    # ---- the model, fitted once -------------------------------------------------
    t = time.perf_counter()
    lr = LogisticRegression(C=C, max_iter=1000).fit(Xtr, ytr)
    t_sklearn = time.perf_counter() - t
    print(f"LogisticRegression fit {t_sklearn:.2f} s", flush=True)

    H_OURS = "H = C * sum_i Hess(CE_i) + I_W (intercept unpenalised), + null-direction fix"

    # ---- ours ---------------------------------------------------------------------
    scorers = {}
    for method in ("exact", "cg", "lissa"):
        t = time.perf_counter()
        s = InfluenceScorer(lr, refit=False, method=method, device="cpu", random_state=0)
        s.fit(Xtr, ytr)
        scorers[method] = (s, time.perf_counter() - t)
    s_ex = scorers["exact"][0]
    print(
        f"ours: grad norm at params_ {s_ex.grad_norm_:.2e}, setup = InfluenceScorer.fit "
        "(Newton polish + self-influence of all 1,500 points by one Cholesky)",
        flush=True,
    )

    ref = {}
    ref[N_SMALL] = s_ex.influence(Xte[:N_SMALL], yte[:N_SMALL])
    ref[N_LARGE] = s_ex.influence(Xte[:N_LARGE], yte[:N_LARGE])

    ours_methods = ("exact", "cg", "lissa")
    if os.environ.get("INFLUENCE_PEERS_SKIP_OURS"):  # quick check of the peers only
        ours_methods = ()
    for method in ours_methods:
        s, t_fit = scorers[method]
        t5 = None
        for m in (N_SMALL, N_LARGE):
            if m == N_LARGE and method == "lissa" and t5 * N_LARGE / N_SMALL > 3 * BUDGET_S:
                record(
                    f"ours {method}",
                    m,
                    t_fit,
                    [],
                    None,
                    None,
                    1.0,
                    H_OURS,
                    f"skipped: predicted {t5 * N_LARGE / N_SMALL:.0f} s > budget",
                )
                continue

            def call(s=s, m=m):
                s._solvers.clear()  # each call rebuilds the Hessian / factorisation / scale
                return s.influence(Xte[:m], yte[:m])

            vals, times = timed(call)
            t5 = min(times) if m == N_SMALL else t5
            note = (
                "cold: Hessian + Cholesky in every call"
                if method == "exact"
                else ("cold: solver restarted every call")
            )
            record(
                f"ours {method}",
                m,
                t_fit,
                times,
                vals if m == N_SMALL else None,
                ref[N_SMALL] if m == N_SMALL else None,
                1.0,
                H_OURS,
                note,
            )
        if method == "exact":
            s.influence(Xte[:1], yte[:1])  # factorise once
            _, times = timed(lambda s=s: s.influence(Xte[:N_LARGE], yte[:N_LARGE]))
            record(
                "ours exact (factorised once)",
                N_LARGE,
                t_fit,
                times,
                None,
                None,
                1.0,
                H_OURS,
                "warm: Cholesky cached by a previous call",
            )

    # the same parameters for every peer
    M = s_ex.params_.reshape(10, 65)
    W, b = M[:, :64].copy(), M[:, 64].copy()
    Ytr = torch.as_tensor(ytr, dtype=torch.long)
    Yte = torch.as_tensor(yte, dtype=torch.long)
    Xtr0 = augment(Xtr, 0.0)
    Xte0 = augment(Xte, 0.0)

    # ---- pyDVL -------------------------------------------------------------------
    errors = {}
    try:
        if os.environ.get("INFLUENCE_PEERS_SKIP_PYDVL"):  # quick check of captum only
            raise RuntimeError("skipped (INFLUENCE_PEERS_SKIP_PYDVL)")
        from pydvl.influence.torch import CgInfluence, DirectInfluence, LissaInfluence
        from torch.utils.data import DataLoader, TensorDataset

        def loss_pydvl(out, y):  # batch mean; the last column carries r * 0.5||W||^2
            return torch.nn.functional.cross_entropy(out[:, :-1], y) + out[:, -1].mean()

        hess_loader = DataLoader(TensorDataset(augment(Xtr, 1.0 / (n * C)), Ytr), batch_size=n)
        H_PYDVL = "H / (n C): mean of CE + 0.5||W||^2/(nC) over one full batch"
        peers = [
            ("pyDVL DirectInfluence", lambda mdl: DirectInfluence(mdl, loss_pydvl), ""),
            (
                "pyDVL CgInfluence",
                lambda mdl: CgInfluence(mdl, loss_pydvl),
                "defaults: rtol 1e-4, atol 1e-6, one CG per test point",
            ),
            (
                "pyDVL CgInfluence (block)",
                lambda mdl: CgInfluence(mdl, loss_pydvl, solve_simultaneously=True),
                "solve_simultaneously=True (block CG), rtol 1e-4, atol 1e-6",
            ),
            (
                "pyDVL LissaInfluence",
                lambda mdl: LissaInfluence(mdl, loss_pydvl),
                "defaults: maxiter 1000, scale 10, rtol 1e-4, full-batch HVPs",
            ),
        ]
        model = PenalisedLinear(W, b)
        # largest eigenvalue of the pyDVL Hessian H/(nC), for LiSSA's scale
        lam = torch.linalg.eigvalsh(torch.as_tensor(s_ex._obj.hessian())).cpu().numpy() / (n * C)
        lam_max = float(lam[-1])
        lam_min_pos = float(lam[lam > 1e-12 * lam_max][0])
        print(
            f"pyDVL Hessian H/(nC): largest eigenvalue {lam_max:.4g}, smallest nonzero "
            f"{lam_min_pos:.4g} (LiSSA needs scale > largest)",
            flush=True,
        )
        peers.append(
            (
                "pyDVL LissaInfluence (tuned)",
                lambda mdl: LissaInfluence(mdl, loss_pydvl, scale=1.5 * lam_max),
                f"scale 1.5 x largest eigenvalue = {1.5 * lam_max:.3g}, maxiter 1000, rtol 1e-4",
            )
        )
        for name, make, note in peers:
            try:
                t = time.perf_counter()
                inf = make(model).fit(hess_loader)
                t_setup = time.perf_counter() - t
                t5 = None
                for m in (N_SMALL, N_LARGE):
                    if (
                        m == N_LARGE
                        and t5 is not None
                        and t5 * N_LARGE / N_SMALL > 3 * BUDGET_S
                        and "block" not in name
                        and "Direct" not in name
                    ):
                        record(
                            name,
                            m,
                            t_setup,
                            [],
                            None,
                            None,
                            1.0 / n,
                            H_PYDVL,
                            f"skipped: predicted {t5 * N_LARGE / N_SMALL:.0f} s > budget",
                        )
                        continue

                    def call(inf=inf, m=m):
                        return inf.influences(Xte0[:m], Yte[:m], Xtr0, Ytr).detach().numpy()

                    vals, times = timed(call)
                    if m == N_SMALL:
                        t5 = min(times)
                    sign = np.sign((vals * ref[m]).sum()) if np.all(np.isfinite(vals)) else 1.0
                    nn = note + ("; " if note else "") + f"sign vs ours {'+' if sign > 0 else '-'}"
                    if not np.all(np.isfinite(vals)):
                        nn += "; NON-FINITE values"
                    record(
                        name,
                        m,
                        t_setup,
                        times,
                        vals if m == N_SMALL else None,
                        ref[m] if m == N_SMALL else None,
                        1.0 / n * (1 if sign >= 0 else -1),
                        H_PYDVL,
                        nn,
                    )
            except Exception as exc:  # record and go on
                errors[name] = f"{type(exc).__name__}: {exc}"
                print(f"{name}: FAILED {errors[name]}", flush=True)
    except Exception as exc:
        errors["pydvl"] = f"{type(exc).__name__}: {exc}"
        print(f"pyDVL FAILED: {errors['pydvl']}", flush=True)

    # ---- captum ------------------------------------------------------------------
    try:
        from captum.influence import NaiveInfluenceFunction
        from torch.utils.data import DataLoader, TensorDataset

        def loss_captum(out, y):  # reduction "none": C * CE_i + r_i * 0.5||W||^2
            return (
                C * torch.nn.functional.cross_entropy(out[:, :-1], y, reduction="none") + out[:, -1]
            )

        def test_loss_captum(out, y):  # the test loss: CE alone
            return torch.nn.functional.cross_entropy(out[:, :-1], y, reduction="none")

        H_CAPTUM = "H: sum of C*CE_i + 0.5||W||^2/n over the training rows (dense, eigh)"
        model = PenalisedLinear(W, b)
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = os.path.join(tmp, "model.pt")
            torch.save(model.state_dict(), ckpt)
            train_loader = DataLoader(TensorDataset(Xtr0, Ytr), batch_size=n)
            hess_loader = DataLoader(TensorDataset(augment(Xtr, 1.0 / n), Ytr), batch_size=n)

            def make():
                return NaiveInfluenceFunction(
                    model,
                    train_loader,
                    ckpt,
                    loss_fn=loss_captum,
                    test_loss_fn=test_loss_captum,
                    hessian_dataset=hess_loader,
                    projection_dim=650,
                    hessian_reg=0.0,
                )

            setups = []
            for _ in range(REPEATS):
                t = time.perf_counter()
                inf = make()
                setups.append(time.perf_counter() - t)
            print(
                f"captum setup (dense Hessian + eigendecomposition) best {min(setups):.2f} s "
                f"median {statistics.median(setups):.2f} s; rank kept {inf.R.shape[1]}",
                flush=True,
            )
            for m in (N_SMALL, N_LARGE):
                vals, times = timed(lambda m=m: inf.influence((Xte0[:m], Yte[:m])).detach().numpy())
                sign = np.sign((vals * ref[m]).sum())
                record(
                    "captum NaiveInfluenceFunction",
                    m,
                    float(statistics.median(setups)),
                    times,
                    vals if m == N_SMALL else None,
                    ref[m] if m == N_SMALL else None,
                    1.0 * sign,
                    H_CAPTUM,
                    f"projection_dim=650 (rank kept {inf.R.shape[1]}), hessian_reg=0; "
                    f"setup best {min(setups):.2f} s; sign vs ours {'+' if sign > 0 else '-'}",
                )
    except Exception as exc:
        errors["captum"] = f"{type(exc).__name__}: {exc}"
        print(f"captum FAILED: {errors['captum']}", flush=True)

    out = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "setting": {
            "data": "load_digits, X/16, train_test_split(train_size=1500, random_state=0)",
            "model": f"LogisticRegression(C={C}, max_iter=1000), 10 classes, 650 parameters",
            "parameters": "sklearn fit refined by InfluenceScorer's Newton polish; the same "
            "for every method",
            "n_train": int(n),
            "agreement": f"against ours exact on the first {N_SMALL} test points, after "
            "multiplying by scale_factor_to_ours",
            "timing": f"best and median of {REPEATS} calls of the influence computation; "
            "setup_seconds separately (ours: InfluenceScorer.fit incl. polish and "
            "self-influence; pyDVL: fit(); captum: constructor = Hessian + eigh)",
            "sklearn_fit_seconds": t_sklearn,
            "grad_norm": float(s_ex.grad_norm_),
        },
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "numpy": np.__version__,
            "scipy": pkg_version("scipy"),
            "scikit-learn": pkg_version("scikit-learn"),
            "pydvl": pkg_version("pydvl"),
            "captum": pkg_version("captum"),
            "sklearn-curate": pkg_version("sklearn-curate"),
        },
        "machine": machine(),
        "code": state,
        "errors": errors,
        "results": results,
    }
    os.makedirs(os.path.dirname(OUT_JSON), exist_ok=True)
    with open(OUT_JSON, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"wrote {os.path.normpath(OUT_JSON)}")


if __name__ == "__main__":
    main()
