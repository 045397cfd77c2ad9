"""Arnoldi influence: the Hessian's dominant eigenpairs from Hessian-vector products.

Schioppa, Zablotskaia, Vilar and Sokolov, "Scaling Up Influence Functions" (AAAI 2022):

1. Arnoldi iteration on the Hessian ``H`` of the training objective (full-batch
   Hessian-vector products, no dense matrix), started from a seeded random vector,
   builds an orthonormal basis ``Q`` of the Krylov space and ``T = Q^T H Q``
   (upper Hessenberg; tridiagonal up to rounding since ``H`` is symmetric, so ``T`` is
   symmetrised). Every new vector is orthogonalised twice against ``Q`` (classical
   Gram-Schmidt with re-orthogonalisation); when the space becomes invariant (a new
   vector of norm ~0) the iteration restarts from a random vector orthogonal to ``Q``.
2. The eigenpairs of ``T`` are Ritz pairs of ``H``; of the ``rank`` of largest
   magnitude, those with ``lambda_k + damping > 0`` are kept, ``(lambda_k, v_k = Q u_k)``
   (negative curvature, at a point that is not a minimum, is dropped).
3. ``H^-1`` is applied in their span: ``(H + damping I)^-1 b ~ sum_k v_k (v_k . b) /
   (lambda_k + damping)``, and the quadratic form ``g^T (H + damping I)^-1 g`` is
   ``sum_k (v_k . g)^2 / (lambda_k + damping)``: no solve per right-hand side.

Directions outside the span (the flat ones) are dropped rather than inverted: the
influence they would carry is the part that small eigenvalues make unstable.
"""

from __future__ import annotations

import torch

from ._influence_core import Solver

__all__ = ["ArnoldiSolver"]


class ArnoldiSolver(Solver):
    """Top-``rank`` Ritz pairs of the Hessian from ``n_iter`` Arnoldi steps.

    Parameters
    ----------
    obj : _Objective
        The objective; ``obj.hvp`` gives Hessian-vector products of its total.
    damping : float
        Added to every kept eigenvalue.
    n_iter : int
        Arnoldi steps (Hessian-vector products); at most ``n_params``.
    rank : int
        Eigenpairs kept (largest magnitude); at most ``n_iter``.
    generator : torch.Generator
        Seeds the start (and restart) vectors.
    progress : bool
        A tqdm bar over the steps.

    Attributes
    ----------
    eigenvalues : Tensor of shape (k,)
        The kept Ritz values.
    n_dropped : int
        Eigenpairs among the ``rank`` of largest magnitude dropped because their
        eigenvalue plus ``damping`` is not positive (negative curvature at a point
        that is not a minimum).
    n_restarts : int
        Restarts after an invariant Krylov space.

    Raises
    ------
    ValueError
        If no kept eigenvalue plus ``damping`` is positive.
    """

    def __init__(self, obj, damping, *, n_iter, rank, generator, progress):
        from tqdm.auto import tqdm

        p = obj.n_params
        m = min(int(n_iter), p)
        dev, dt = obj.theta.device, torch.float64
        Q = torch.zeros(m + 1, p, dtype=dt, device=dev)
        T = torch.zeros(m + 1, m, dtype=dt, device=dev)

        def random_unit(j):
            v = torch.randn(p, generator=generator, dtype=dt).to(dev)
            for _ in range(2):
                v = v - (Q[:j] @ v) @ Q[:j]
            return v / v.norm()

        Q[0] = random_unit(0)
        scale = 0.0
        self.n_restarts = 0
        for j in tqdm(range(m), desc="Arnoldi", disable=not progress, leave=False):
            w = obj.hvp(Q[j : j + 1])[0]
            for _ in range(2):  # classical Gram-Schmidt, twice
                h = Q[: j + 1] @ w
                w = w - h @ Q[: j + 1]
                T[: j + 1, j] += h
            beta = float(w.norm())
            scale = max(scale, float(T[: j + 1, j].abs().max()))
            if j + 1 == m:
                break
            if beta <= 1e-10 * max(scale, 1e-300):  # invariant space: restart
                self.n_restarts += 1
                Q[j + 1] = random_unit(j + 1)
            else:
                T[j + 1, j] = beta
                Q[j + 1] = w / beta
        T = T[:m, :m]
        T = 0.5 * (T + T.T)
        lam, U = torch.linalg.eigh(T)
        keep = torch.argsort(lam.abs(), descending=True)[: min(int(rank), m)]
        keep = keep[lam[keep] + float(damping) > 0]
        self.n_dropped = min(int(rank), m) - int(keep.numel())
        if keep.numel() == 0:
            raise ValueError(
                f"Arnoldi: no kept eigenvalue of the Hessian is above -damping "
                f"({-float(damping):.3g}); pass a larger damping."
            )
        self.eigenvalues = lam[keep]
        self.V = U[:, keep].T @ Q[:m]  # (rank, p) orthonormal Ritz vectors
        self.denom = self.eigenvalues + float(damping)

    def solve(self, B):
        return ((B @ self.V.T) / self.denom) @ self.V

    def quad(self, G):
        return ((G @ self.V.T) ** 2 / self.denom).sum(1)
