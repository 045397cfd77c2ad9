"""Objectives and inverse-Hessian solvers behind :class:`InfluenceScorer`.

An *objective* is ``total(theta) = c * sum_i l_i(theta) + R(theta)`` in float64 over a
flat parameter vector ``theta``: scikit-learn's LogisticRegression (``c = C``,
``R = 0.5 ||W||^2``, intercept unpenalised) or a torch module with a per-sample loss
(``c = 1 / n``, ``R = 0.5 * weight_decay * ||theta||^2``). Gradients, per-sample
gradients (``torch.func.vmap(grad)``) and Hessian-vector products
(``torch.func.jvp(grad)``) are exact. The solvers apply ``(H + damping I)^-1`` to a
block of vectors: ``exact`` (Cholesky once), ``cg`` (block conjugate gradient) and
``lissa`` (the stochastic Neumann series of Agarwal et al.).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch.func import functional_call, grad, jvp, vmap

__all__ = [
    "LogisticObjective",
    "ModuleObjective",
    "make_solver",
    "select_parameters",
    "train_lbfgs",
]


# ----------------------------------------------------------------------------------
# objectives
# ----------------------------------------------------------------------------------
class _Objective:
    """Common machinery; subclasses define ``loss1`` (one sample) and ``reg``."""

    theta: torch.Tensor
    c: float
    null: torch.Tensor | None = None

    def losses(self, theta, X, Y):
        return vmap(self.loss1, in_dims=(None, 0, 0))(theta, X, Y)

    def total(self, theta, X=None, Y=None):
        X = self.X if X is None else X
        Y = self.Y if Y is None else Y
        return self.c * self.losses(theta, X, Y).sum() + self.reg(theta)

    @property
    def n_params(self) -> int:
        return int(self.theta.numel())

    def grad_total(self, theta=None, X=None, Y=None):
        theta = self.theta if theta is None else theta
        return grad(lambda t: self.total(t, X, Y))(theta)

    def hvp(self, V, theta=None, X=None, Y=None):
        """``H V`` for a block ``V`` of shape (m, p) (H of ``total`` on X, Y)."""
        theta = self.theta if theta is None else theta
        g = grad(lambda t: self.total(t, X, Y))

        def one(v):
            return jvp(g, (theta,), (v,))[1]

        return vmap(one)(V)

    def hessian(self, theta=None, chunk=256):
        """Dense Hessian of ``total`` from blocks of Hessian-vector products."""
        p = self.n_params
        eye = torch.eye(p, dtype=torch.float64, device=self.theta.device)
        cols = [self.hvp(eye[s : s + chunk], theta) for s in range(0, p, chunk)]
        H = torch.cat(cols, 0)
        return 0.5 * (H + H.T)

    def per_sample_grads(self, X, Y, theta=None):
        theta = self.theta if theta is None else theta
        return vmap(grad(self.loss1), in_dims=(None, 0, 0))(theta, X, Y)

    def restrict(self, theta, keep):
        """(X, Y) without the rows not in ``keep`` (for leave-out retraining)."""
        return self.X[keep], self.Y[keep]


class LogisticObjective(_Objective):
    """scikit-learn's LogisticRegression objective, ``C sum_i l_i + 0.5 ||W||^2``.

    Binary: ``theta = [w, b]``, ``l = softplus(z) - y z``. Multiclass (multinomial):
    ``theta`` is the (K, d [+1]) matrix ``[W | b]`` flattened row by row and
    ``l = logsumexp(z) - z_y``. The intercept is not penalised, so the multinomial
    objective is flat along "add the same constant to every intercept"; that unit
    direction is ``null`` (every per-sample gradient is orthogonal to it).
    """

    def __init__(self, est, X, Y, device):
        self.classes = est.classes_
        self.K = len(self.classes)
        self.fit_intercept = bool(est.fit_intercept)
        self.C = float(est.C)
        self.c = self.C
        self.d = X.shape[1]
        self.binary = self.K == 2
        coef = np.asarray(est.coef_, dtype=np.float64)
        inter = np.broadcast_to(np.asarray(est.intercept_, dtype=np.float64), (coef.shape[0],))
        M = np.hstack([coef, inter[:, None]]) if self.fit_intercept else coef
        self.rows = M.shape[0]
        self.theta = torch.as_tensor(M.ravel().copy(), dtype=torch.float64, device=device)
        self.X, self.Y = X, Y
        mask = torch.ones_like(self.theta).reshape(self.rows, -1)
        if self.fit_intercept:
            mask[:, -1] = 0.0
        self.pen = mask.ravel()
        if self.fit_intercept and not self.binary:
            u = (1.0 - mask).ravel()
            self.null = u / u.norm()

    def _logits(self, theta, x):
        M = theta.reshape(self.rows, -1)
        z = M[:, : self.d] @ x
        if self.fit_intercept:
            z = z + M[:, -1]
        return z

    def loss1(self, theta, x, y):
        z = self._logits(theta, x)
        if self.binary:
            return torch.nn.functional.softplus(z[0]) - y.to(z.dtype) * z[0]
        return torch.logsumexp(z, 0) - torch.gather(z, 0, y.reshape(1))[0]

    def losses(self, theta, X, Y):
        M = theta.reshape(self.rows, -1)
        Z = X @ M[:, : self.d].T
        if self.fit_intercept:
            Z = Z + M[:, -1]
        if self.binary:
            return torch.nn.functional.softplus(Z[:, 0]) - Y.to(Z.dtype) * Z[:, 0]
        return torch.logsumexp(Z, 1) - Z.gather(1, Y[:, None])[:, 0]

    def reg(self, theta):
        return 0.5 * (self.pen * theta * theta).sum()

    def hvp(self, V, theta=None, X=None, Y=None):
        """Closed-form ``H V`` (two matrix products), same value as the torch.func one."""
        theta = self.theta if theta is None else theta
        X = self.X if X is None else X
        key = (id(theta), id(X))
        cache = getattr(self, "_hvp_cache", None)
        if cache is not None and cache[0] == key and cache[1] is theta and cache[2] is X:
            Xt, W = cache[3], cache[4]
        else:
            Xt = torch.cat([X, torch.ones_like(X[:, :1])], 1) if self.fit_intercept else X
            Z = Xt @ theta.reshape(self.rows, -1).T
            if self.binary:
                s = torch.sigmoid(Z[:, 0])
                W = (s * (1 - s))[:, None, None]
            else:
                W = torch.softmax(Z, 1)[:, None, :]
            self._hvp_cache = (key, theta, X, Xt, W)
        m = V.shape[0]
        Vr = V.reshape(m, self.rows, -1)
        ZV = (Xt @ Vr.reshape(m * self.rows, -1).T).reshape(-1, m, self.rows)
        if self.binary:
            D = W * ZV
        else:
            D = W * (ZV - (W * ZV).sum(2, keepdim=True))
        HV = (D.reshape(D.shape[0], -1).T @ Xt).reshape(m, -1)
        return self.C * HV + self.pen * V

    def hessian(self, theta=None):
        """Compute the Hessian in closed form: ``C sum_i (diag p_i - p_i p_i^T) (x) x_i x_i^T + pen``."""
        theta = self.theta if theta is None else theta
        X = self.X
        Xt = torch.cat([X, torch.ones_like(X[:, :1])], 1) if self.fit_intercept else X
        M = theta.reshape(self.rows, -1)
        Z = Xt @ M.T
        if self.binary:
            s = torch.sigmoid(Z[:, 0])
            H = (Xt * (self.C * s * (1 - s))[:, None]).T @ Xt
        else:
            P = torch.softmax(Z, 1)
            q = Xt.shape[1]
            B = (P[:, :, None] * Xt[:, None, :]).reshape(X.shape[0], -1)
            H = -(B.T @ B)
            for k in range(self.K):
                H[k * q : (k + 1) * q, k * q : (k + 1) * q] += (Xt * P[:, k : k + 1]).T @ Xt
            H = self.C * H
        H = H + torch.diag(self.pen)
        return 0.5 * (H + H.T)

    def preconditioner(self, damping=0.0):
        """Block-Jacobi preconditioner: the inverse of each class's diagonal block.

        For the multinomial Hessian ``C sum_i (diag p_i - p_i p_i^T) (x) x_i x_i^T +
        pen`` the block of class ``k`` is ``C sum_i p_ik (1 - p_ik) x_i x_i^T + pen_k``
        (``(d + 1) x (d + 1)``); binary: the whole Hessian (one block, so CG converges
        in one step). Each block is Cholesky-factorised once (``K (d + 1)^3 / 3``
        operations). Returns ``M^-1`` as a function of a block of residuals of shape
        (m, p), or None when a block is not positive definite.
        """
        X = self.X
        Xt = torch.cat([X, torch.ones_like(X[:, :1])], 1) if self.fit_intercept else X
        Z = Xt @ self.theta.reshape(self.rows, -1).T
        if self.binary:
            s = torch.sigmoid(Z)
            w = s * (1 - s)
        else:
            P = torch.softmax(Z, 1)
            w = P * (1 - P)
        q = Xt.shape[1]
        # (rows, q, q): C sum_i w_ik x_i x_i^T, plus the penalty and damping
        blocks = self.C * torch.einsum("ik,ia,ib->kab", w, Xt, Xt)
        diag = self.pen.reshape(self.rows, q) + damping
        blocks = blocks + torch.diag_embed(diag)
        L, info = torch.linalg.cholesky_ex(blocks)
        if bool((info != 0).any()):
            return None
        return _BlockSolve(L)


class _BlockSolve:
    """Apply ``R -> blockdiag(L L^T)^-1 R`` to residual blocks of shape (m, rows * q).

    A class, not a closure, so a fitted scorer with a cached CG solver pickles.
    """

    def __init__(self, L):
        self.L = L

    def __call__(self, R):
        rows, q, _ = self.L.shape
        m = R.shape[0]
        Rb = R.reshape(m, rows, q).permute(1, 2, 0)  # (rows, q, m)
        return torch.cholesky_solve(Rb, self.L).permute(2, 0, 1).reshape(m, -1)


def _cross_entropy(out, y):
    return torch.logsumexp(out, 0) - torch.gather(out, 0, y.reshape(1))[0]


class ModuleObjective(_Objective):
    """A torch module with a per-sample loss: ``(1/n) sum_i l_i + 0.5 wd ||theta||^2``."""

    def __init__(self, module, loss, weight_decay, X, Y, device, layers=None):
        self.module = copy.deepcopy(module).to(device=device, dtype=torch.float64)
        self.module.eval()
        trainable = [n for n, p in self.module.named_parameters() if p.requires_grad]
        self.names = select_parameters(self.module, trainable, layers)
        params = dict(self.module.named_parameters())
        # held fixed: detached, so that no autograd graph is built through them
        self.fixed = {n: params[n].detach() for n in trainable if n not in self.names}
        self.shapes = [params[n].shape for n in self.names]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.theta = torch.cat([params[n].detach().reshape(-1) for n in self.names]).clone()
        self.loss = _cross_entropy if loss is None else loss
        self.wd = float(weight_decay)
        self.X, self.Y = X, Y
        self.c = 1.0 / X.shape[0]

    def unflatten(self, theta):
        parts = torch.split(theta, self.sizes)
        return {n: t.reshape(s) for n, t, s in zip(self.names, parts, self.shapes, strict=True)}

    def forward(self, theta, X):
        return functional_call(self.module, {**self.fixed, **self.unflatten(theta)}, (X,))

    def loss1(self, theta, x, y):
        out = self.forward(theta, x[None])[0]
        return self.loss(out, y).reshape(())

    def losses(self, theta, X, Y):
        out = self.forward(theta, X)
        return vmap(lambda o, y: self.loss(o, y).reshape(()))(out, Y)

    def reg(self, theta):
        return 0.5 * self.wd * (theta * theta).sum()

    def restrict(self, theta, keep):
        return self.X[keep], self.Y[keep]

    def write_back(self):
        """Return the module (float64 copy) with the current parameters."""
        with torch.no_grad():
            for n, t in self.unflatten(self.theta).items():
                self.module.get_parameter(n).copy_(t)
        return self.module


def select_parameters(module, trainable, layers):
    """Names of the parameters of the modules named in ``layers`` (all when None).

    A parameter belongs to a layer when its dotted name starts with the layer's
    name and a dot ("1" selects "1.weight" and "1.bias", not "10.weight"). Only
    parameters with ``requires_grad`` count.
    """
    if layers is None:
        chosen = list(trainable)
    else:
        modules = dict(module.named_modules())
        for name in layers:
            if not isinstance(name, str) or name not in modules:
                with_params = [
                    m
                    for m, mod in modules.items()
                    if m and next(mod.parameters(False), None) is not None
                ]
                raise ValueError(
                    f"layers: the module has no sub-module named {name!r}; modules with "
                    f"parameters: {with_params[:20]}."
                )
        chosen = [
            n for n in trainable if any(n.startswith(f"{name}.") or not name for name in layers)
        ]
    if not chosen:
        raise ValueError(
            f"layers={layers!r} select no trainable parameters (requires_grad=True); "
            "pass modules that have some."
        )
    return chosen


def train_lbfgs(obj, theta0, X=None, Y=None, *, tol=1e-10, max_iter=2000, newton=False):
    """Minimise ``obj.total`` (optionally on a subset X, Y) from ``theta0``.

    ``newton=True`` takes damped Newton steps with the dense Hessian (objectives
    with few parameters: each step is one factorisation). Otherwise full-batch
    L-BFGS with a strong-Wolfe line search. Stops when the gradient norm is below
    ``tol``. Returns ``(theta, gradient norm, iterations)``.
    """
    if newton:
        theta = theta0.clone()
        saved = (obj.X, obj.Y)
        if X is not None:
            obj.X, obj.Y = X, Y
        try:
            for it in range(max_iter):
                g = obj.grad_total(theta)
                gn = float(g.norm())
                if gn < tol:
                    return theta, gn, it
                H = obj.hessian(theta)
                if obj.null is not None:
                    H = H + torch.outer(obj.null, obj.null)
                step = torch.linalg.solve(H, g)
                f0 = float(obj.total(theta))
                t = 1.0
                while t > 1e-8:
                    cand = theta - t * step
                    if float(obj.total(cand)) <= f0 + 1e-4 * t * float(g @ -step) or gn < 1e-6:
                        break
                    t *= 0.5
                theta = theta - t * step
            return theta, float(obj.grad_total(theta).norm()), max_iter
        finally:
            obj.X, obj.Y = saved
    theta = theta0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [theta],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=tol,
        tolerance_change=0.0,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        f = obj.total(theta, X, Y)
        f.backward()
        return f

    for _ in range(5):
        opt.step(closure)
        gn = float(obj.grad_total(theta.detach(), X, Y).norm())
        if gn < tol:
            break
    return theta.detach(), gn, opt.state[opt._params[0]].get("n_iter", 0)


def train_chord(obj, theta0, solve, X, Y, *, tol=1e-10, max_iter=200, max_halvings=10):
    """Newton-chord iterations ``theta <- theta - t H0^-1 grad total(theta; X, Y)``.

    ``solve`` applies a fixed, factorised ``H0^-1`` (the Hessian of the full objective
    at its optimum, plus any damping) to a block of shape (m, p). When ``X, Y`` are the
    training data without one row, ``H0`` is within one sample's curvature of the
    Hessian of the reduced objective, so the iteration converges linearly at a rate
    of about ``||I - H0^-1 H||``: a handful of gradient evaluations and triangular
    solves instead of an L-BFGS run. The step ``t`` starts at 1 and is halved (up to
    ``max_halvings`` times) until the gradient norm decreases: for a nearly singular
    ``H0`` of a non-convex model the full step can overshoot. The fixed point is a
    stationary point of the reduced objective whatever ``H0`` is. Returns ``(theta,
    gradient norm, iterations)``, or None when no step lowers the gradient norm (the
    caller falls back to L-BFGS).
    """
    theta = theta0.clone()
    g = obj.grad_total(theta, X, Y)
    gn = float(g.norm())
    for it in range(max_iter):
        if gn < tol:
            return theta, gn, it
        step = solve(g[None])[0]
        t = 1.0
        for _ in range(max_halvings + 1):
            cand = theta - t * step
            g_new = obj.grad_total(cand, X, Y)
            gn_new = float(g_new.norm())
            if gn_new < gn:
                break
            t *= 0.5
        else:
            return None if it == 0 else (theta, gn, it)
        theta, g, gn = cand, g_new, gn_new
    return theta, gn, max_iter


# ----------------------------------------------------------------------------------
# solvers: apply (H + damping I)^-1 to a block B of shape (m, p)
# ----------------------------------------------------------------------------------
class Solver:
    """Base of the solvers: ``solve(B)`` applies ``(H + damping I)^-1`` to rows of B."""

    def solve(self, B):  # pragma: no cover - abstract
        raise NotImplementedError

    def quad(self, G):
        """Quadratic forms ``g^T (H + damping I)^-1 g``, one per row of G (m, p).

        One solve per row here; curvature approximations override it with a cheaper
        form (no solve at all).
        """
        return (self.solve(G) * G).sum(1)


class ExactSolver(Solver):
    """Dense Hessian, Cholesky factorised once, reused for every right-hand side."""

    def __init__(self, obj, damping):
        H = obj.hessian()
        p = H.shape[0]
        H = H + damping * torch.eye(p, dtype=H.dtype, device=H.device)
        if obj.null is not None:
            H = H + float(H.diagonal().mean()) * torch.outer(obj.null, obj.null)
        L, info = torch.linalg.cholesky_ex(H)
        if int(info) != 0:
            lo = float(torch.linalg.eigvalsh(H)[0])
            raise ValueError(
                f"The Hessian (+ damping) is not positive definite (smallest eigenvalue "
                f"{lo:.3g}); the model is not at a strict minimum. Pass damping > "
                f"{max(-lo, 0.0):.3g} (e.g. damping={max(-2 * lo, 1e-3):.3g}) or train it "
                "to convergence (refit=True)."
            )
        self.L = L

    def solve(self, B):
        return torch.cholesky_solve(B.T, self.L).T


class CGSolver(Solver):
    """Block (preconditioned) conjugate gradient: every column its own CG, advanced together.

    When the objective offers a ``preconditioner`` (LogisticRegression: block-Jacobi,
    one block per class), the iteration is preconditioned CG; otherwise plain CG.
    Each column stops when its residual ``||b - A x||`` is below ``tol * ||b||``.
    """

    def __init__(self, obj, damping, tol=1e-10, max_iter=None, precondition=True):
        self.obj, self.damping, self.tol = obj, damping, tol
        self.max_iter = max_iter or max(10 * obj.n_params, 1000)
        self.n_iter_ = 0
        make = getattr(obj, "preconditioner", None) if precondition else None
        self.precond = make(damping) if make is not None else None

    def _A(self, V):
        out = self.obj.hvp(V) + self.damping * V
        u = self.obj.null
        if u is not None:
            out = out + (V @ u)[:, None] * u[None, :]
        return out

    def solve(self, B):
        M = self.precond if self.precond is not None else (lambda R: R)
        X = torch.zeros_like(B)
        R = B.clone()
        Zr = M(R)
        P = Zr.clone()
        rz = (R * Zr).sum(1)
        rr = (R * R).sum(1)
        stop = (self.tol * B.norm(dim=1)) ** 2
        done = 0
        for _ in range(self.max_iter):
            active = rr > stop
            if not bool(active.any()):
                break
            done += 1
            AP = self._A(P)
            pAp = (P * AP).sum(1)
            if bool((pAp[active] <= 0).any()):
                raise ValueError(
                    "Conjugate gradient met a direction of non-positive curvature: the "
                    "Hessian is not positive definite. Pass damping > 0 or train the "
                    "model to convergence."
                )
            alpha = torch.where(active, rz / torch.where(active, pAp, 1.0), 0.0)
            X = X + alpha[:, None] * P
            R = R - alpha[:, None] * AP
            Zr = M(R)
            rz_new = (R * Zr).sum(1)
            beta = torch.where(active, rz_new / torch.where(active, rz, 1.0), 0.0)
            P = torch.where(active[:, None], Zr + beta[:, None] * P, P)
            rz = torch.where(active, rz_new, rz)
            rr = torch.where(active, (R * R).sum(1), rr)
        self.n_iter_ = max(self.n_iter_, done)
        return X


def power_iteration(matvec, p, *, n_iter=100, generator=None, dtype=torch.float64, device="cpu"):
    """Largest eigenvalue of a symmetric PSD operator by power iteration."""
    v = torch.randn(p, dtype=dtype, device=device, generator=generator)
    v = v / v.norm()
    lam = 0.0
    for _ in range(n_iter):
        w = matvec(v[None])[0]
        new = float(v @ w)
        nw = float(w.norm())
        if nw == 0:
            return 0.0
        v = w / nw
        if abs(new - lam) <= 1e-6 * abs(new):
            lam = new
            break
        lam = new
    return lam


class LissaSolver(Solver):
    """LiSSA: ``h <- b + (I - (H_batch + damping I) / scale) h``, result ``h / scale``.

    ``batch_size=None`` uses the full training set for every Hessian-vector product
    (a deterministic Richardson iteration); a minibatch Hessian is rescaled to the
    full objective (``n / b`` times its loss part). ``scale`` must exceed the largest
    eigenvalue of every (minibatch) ``H + damping I``; it is estimated by power
    iteration and the series diverges otherwise.
    """

    def __init__(self, obj, damping, *, depth, scale, batch_size, repeat, tol, rng, progress):
        self.obj, self.damping = obj, damping
        self.depth, self.batch_size, self.repeat, self.tol = depth, batch_size, repeat, tol
        self.rng, self.progress = rng, progress
        n = obj.X.shape[0]
        gen = torch.Generator(device="cpu").manual_seed(int(rng.integers(2**31)))
        if batch_size is None or batch_size >= n:
            lam = power_iteration(self._A, obj.n_params, generator=gen, device=obj.theta.device)
        else:
            lam = 0.0
            for _ in range(5):
                idx = torch.as_tensor(rng.choice(n, batch_size, replace=False))

                def A(V, idx=idx):
                    return self._A(V, idx)

                lam = max(lam, power_iteration(A, obj.n_params, generator=gen))
        self.lambda_max_ = lam
        if scale is None:
            scale = 1.5 * lam if batch_size is None else 2.0 * lam
        elif scale <= lam:
            raise ValueError(
                f"lissa_scale={scale!r} is not above the largest eigenvalue of the "
                f"{'minibatch ' if batch_size else ''}Hessian (+ damping), estimated at "
                f"{lam:.4g} by power iteration: the LiSSA series would diverge. Pass "
                f"lissa_scale > {lam:.4g} (e.g. {1.5 * lam:.4g}) or leave it None."
            )
        self.scale = float(scale)

    def _A(self, V, idx=None):
        obj = self.obj
        if idx is None:
            out = obj.hvp(V)
        else:
            n, b = obj.X.shape[0], len(idx)
            Xb, Yb = obj.X[idx], obj.Y[idx]
            full_c = obj.c

            def lossonly(t):
                return full_c * (n / b) * obj.losses(t, Xb, Yb).sum() + obj.reg(t)

            g = grad(lossonly)
            out = vmap(lambda v: jvp(g, (obj.theta,), (v,))[1])(V)
        out = out + self.damping * V
        if obj.null is not None:
            out = out + (V @ obj.null)[:, None] * obj.null[None, :]
        return out

    def solve(self, B):
        from tqdm.auto import tqdm

        n = self.obj.X.shape[0]
        total = torch.zeros_like(B)
        self.n_iter_ = 0
        for _ in range(self.repeat):
            h = B.clone()
            bar = tqdm(range(self.depth), desc="LiSSA", disable=not self.progress, leave=False)
            done = 0
            for _ in bar:
                done += 1
                idx = None
                if self.batch_size is not None and self.batch_size < n:
                    idx = torch.as_tensor(self.rng.choice(n, self.batch_size, replace=False))
                new = B + h - self._A(h, idx) / self.scale
                if idx is None and self.tol > 0:
                    change = float((new - h).norm()) / max(float(new.norm()), 1e-300)
                    h = new
                    if change < self.tol:
                        break
                else:
                    h = new
            self.n_iter_ = max(self.n_iter_, done)
            total += h / self.scale
        return total / self.repeat


def make_solver(method, obj, damping, params, rng, progress):
    """Build the solver for ``method`` ("exact", "cg" or "lissa")."""
    if method == "exact":
        return ExactSolver(obj, damping)
    if method == "cg":
        return CGSolver(obj, damping, tol=params["cg_tol"], max_iter=params["cg_max_iter"])
    return LissaSolver(
        obj,
        damping,
        depth=params["lissa_depth"],
        scale=params["lissa_scale"],
        batch_size=params["lissa_batch_size"],
        repeat=params["lissa_repeat"],
        tol=params["lissa_tol"],
        rng=rng,
        progress=progress,
    )


def chunks(n, size):
    for s in range(0, n, size):
        yield slice(s, min(s + size, n))


def n_chunks(n, size):
    return math.ceil(n / size)
