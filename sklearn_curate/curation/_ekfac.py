"""EK-FAC: eigenvalue-corrected Kronecker-factored curvature for ``InfluenceScorer``.

George et al. (2018) and Grosse et al. (2023). For every ``nn.Linear`` and ``nn.Conv2d``
layer whose parameters are influence parameters, the block of the Gauss-Newton /
Fisher matrix of the mean loss is approximated as follows, with ``a`` the layer input
(a Conv2d's unfolded patches; a trailing 1 for the bias) and ``g`` the gradient of a
sample's loss with respect to the layer output (pre-activation):

1. Kronecker factors ``A = E[a a^T]`` and ``S = E[g g^T]`` over samples (and spatial
   positions of a convolution), eigendecomposed ``A = Q_A D_A Q_A^T``,
   ``S = Q_S D_S Q_S^T``.
2. Eigenvalue correction: the per-sample gradient of the layer's weight matrix
   ``G_n = sum_t g_nt a_nt^T`` (``out x (in [+ 1])``) is projected into the Kronecker
   eigenbasis, ``P_n = Q_S^T G_n Q_A``, and ``Lambda = mean_n P_n ** 2`` (elementwise)
   replaces the Kronecker product of eigenvalues.
3. ``(H + damping I)^-1 v`` for the layer's block ``V`` of ``v`` is
   ``Q_S [(Q_S^T V Q_A) / (Lambda + weight_decay + damping)] Q_A^T``, and the
   quadratic form ``v^T (H + damping I)^-1 v`` is
   ``sum (Q_S^T V Q_A) ** 2 / (Lambda + weight_decay + damping)``: no solve.

Layers are independent blocks (no cross-layer curvature). The gradients ``g`` come
from labels sampled from the model's own predictive distribution (the true Fisher,
which for cross-entropy is the Gauss-Newton matrix in expectation) or from the
training labels (the empirical Fisher); see ``InfluenceScorer``'s ``fisher``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, vmap

from ._influence_core import Solver, chunks, n_chunks

__all__ = ["EKFACSolver", "ekfac_layers"]


class _Layer:
    """One Linear / Conv2d layer: where its weight and bias sit in ``theta``."""

    def __init__(self, name, module, w_slice, b_slice):
        self.name, self.module = name, module
        self.w_slice, self.b_slice = w_slice, b_slice
        w = module.weight
        self.out = w.shape[0]
        self.d_in = int(w[0].numel())
        self.cols = self.d_in + (b_slice is not None)

    def block(self, V):
        """Rows of flat vectors (m, p) -> the layer's blocks (m, out, in [+ 1])."""
        m = V.shape[0]
        W = V[:, self.w_slice].reshape(m, self.out, self.d_in)
        if self.b_slice is None:
            return W
        return torch.cat([W, V[:, self.b_slice].reshape(m, self.out, 1)], 2)

    def unblock(self, B, out):
        """Write blocks (m, out, in [+ 1]) back into rows of ``out`` (m, p)."""
        m = B.shape[0]
        out[:, self.w_slice] = B[:, :, : self.d_in].reshape(m, -1)
        if self.b_slice is not None:
            out[:, self.b_slice] = B[:, :, self.d_in]

    def inputs(self, x):
        """Layer inputs (n, T, in [+ 1]): T positions (1 for a plain Linear)."""
        mod = self.module
        if isinstance(mod, nn.Conv2d):
            a = nn.functional.unfold(
                x, mod.kernel_size, dilation=mod.dilation, padding=mod.padding, stride=mod.stride
            ).transpose(1, 2)
        else:
            a = x.reshape(x.shape[0], -1, x.shape[-1])
        if self.b_slice is not None:
            a = torch.cat([a, torch.ones_like(a[..., :1])], -1)
        return a

    def out_grads(self, g):
        """Output gradients (n, T, out)."""
        if isinstance(self.module, nn.Conv2d):
            return g.flatten(2).transpose(1, 2)
        return g.reshape(g.shape[0], -1, g.shape[-1])


def ekfac_layers(obj):
    """Return the Linear / Conv2d layers that hold every influence parameter of ``obj``.

    Raises
    ------
    ValueError
        If an influence parameter belongs to another kind of layer, a layer's bias is
        an influence parameter but its weight is not, or a Conv2d has groups > 1, a
        string padding or a padding mode other than "zeros".
    """
    offsets, start = {}, 0
    for name, size in zip(obj.names, obj.sizes, strict=True):
        offsets[name] = slice(start, start + size)
        start += size
    layers, covered = [], set()
    for mname, mod in obj.module.named_modules():
        if not isinstance(mod, (nn.Linear, nn.Conv2d)):
            continue
        w, b = f"{mname}.weight" if mname else "weight", f"{mname}.bias" if mname else "bias"
        if w not in offsets:
            if b in offsets:
                raise ValueError(
                    f"method='ekfac': the bias of layer {mname!r} is an influence parameter "
                    "but its weight is not; choose whole layers with layers=."
                )
            continue
        if isinstance(mod, nn.Conv2d) and (
            mod.groups != 1 or isinstance(mod.padding, str) or mod.padding_mode != "zeros"
        ):
            raise ValueError(
                f"method='ekfac' supports Conv2d layers with groups=1, integer padding and "
                f"padding_mode='zeros'; layer {mname!r} is {mod}. Leave it out with layers=."
            )
        layers.append(_Layer(mname, mod, offsets[w], offsets.get(b)))
        covered.update({w, b} & set(offsets))
    rest = [n for n in obj.names if n not in covered]
    if rest:
        raise ValueError(
            f"method='ekfac' approximates the curvature of nn.Linear and nn.Conv2d layers "
            f"only; these influence parameters belong to other modules: {rest[:10]}. "
            "Restrict the influence parameters with layers=, or use method='cg'."
        )
    return layers


class EKFACSolver(Solver):
    """Fit EK-FAC on the training data of ``obj`` and apply its damped inverse.

    Parameters
    ----------
    obj : ModuleObjective
        The objective (module, data, loss, weight decay, influence parameters).
    damping : float or None
        Added to every corrected eigenvalue; None: per layer, 0.1 times the mean of
        that layer's corrected eigenvalues (the rule of Grosse et al. 2023 and
        kronfluence).
    fisher : {"sampled", "empirical"}
        Output gradients from labels sampled from the model's softmax (one draw per
        sample and pass-independent, seeded by ``generator``) or from the training
        labels.
    batch_size : int
        Samples per batch of the two passes over the training data.
    generator : torch.Generator
        Seeds the sampled labels.
    progress : bool
        tqdm bars over the two passes.
    """

    def __init__(self, obj, damping, *, fisher, batch_size, generator, progress):
        from tqdm.auto import tqdm

        self.obj = obj
        self.layers = ekfac_layers(obj)
        X, Y = obj.X, obj.Y
        n = X.shape[0]
        if fisher == "sampled":
            Y = self._sample_labels(generator)
        self.fisher = fisher
        dev, dt = obj.theta.device, torch.float64
        A = {ly.name: torch.zeros(ly.cols, ly.cols, dtype=dt, device=dev) for ly in self.layers}
        S = {ly.name: torch.zeros(ly.out, ly.out, dtype=dt, device=dev) for ly in self.layers}
        bar = dict(total=n_chunks(n, batch_size), disable=not progress, leave=False)
        for sl in tqdm(chunks(n, batch_size), desc="EK-FAC factors", **bar):
            for ly, a, g in self._io(X[sl], Y[sl]):
                A[ly.name] += torch.einsum("nti,ntj->ij", a, a)
                S[ly.name] += torch.einsum("nti,ntj->ij", g, g)
        self.QA, self.QS = {}, {}
        for ly in self.layers:
            self.QA[ly.name] = torch.linalg.eigh(A[ly.name])[1]
            self.QS[ly.name] = torch.linalg.eigh(S[ly.name])[1]
        lam = {ly.name: torch.zeros(ly.out, ly.cols, dtype=dt, device=dev) for ly in self.layers}
        for sl in tqdm(chunks(n, batch_size), desc="EK-FAC eigenvalues", **bar):
            for ly, a, g in self._io(X[sl], Y[sl]):
                ga = g @ self.QS[ly.name]  # (b, T, out) in the eigenbasis of S
                aa = a @ self.QA[ly.name]  # (b, T, in) in the eigenbasis of A
                # sub-batches keep the (b, out, in) projected gradients near 2^24 floats
                step = max(1, (1 << 24) // (ly.out * ly.cols))
                for s in range(0, ga.shape[0], step):
                    P = torch.einsum("bto,bti->boi", ga[s : s + step], aa[s : s + step])
                    lam[ly.name] += (P * P).sum(0)
        self.lambdas = {k: v / n for k, v in lam.items()}
        if damping is None:
            self.damping = {k: 0.1 * float(v.mean()) for k, v in self.lambdas.items()}
        else:
            self.damping = {k: float(damping) for k in self.lambdas}
        self.denom = {k: v + obj.wd + self.damping[k] for k, v in self.lambdas.items()}
        for k, d in self.denom.items():
            if not bool((d > 0).all()):
                raise ValueError(
                    f"EK-FAC: layer {k!r} has zero corrected eigenvalues and no damping or "
                    "weight decay; pass damping > 0 (or damping='auto')."
                )

    def _sample_labels(self, generator):
        """One label per training sample drawn from the model's softmax."""
        obj = self.obj
        with torch.no_grad():
            out = torch.cat([obj.forward(obj.theta, obj.X[sl]) for sl in chunks(len(obj.X), 512)])
        if out.ndim != 2:
            raise ValueError(
                "fisher='sampled' draws labels from a softmax over the module's outputs, which "
                f"must be (n, n_classes) logits; got outputs of shape {tuple(out.shape)}. "
                "Pass fisher='empirical'."
            )
        probs = torch.softmax(out, 1).cpu()
        labels = torch.multinomial(probs, 1, generator=generator)[:, 0]
        return labels.to(obj.Y.device)

    def _io(self, X, Y):
        """(layer, inputs (b, T, in [+ 1]), output gradients (b, T, out)) for a batch."""
        obj = self.obj
        seen, outs = {}, {}
        handles = []
        for ly in self.layers:

            def hook(mod, inp, out, ly=ly):
                if ly.name in seen:
                    raise ValueError(
                        f"method='ekfac': layer {ly.name!r} runs more than once per forward "
                        "pass (a shared layer); leave it out with layers=."
                    )
                seen[ly.name] = inp[0].detach()
                outs[ly.name] = out

            handles.append(ly.module.register_forward_hook(hook))
        try:
            theta = obj.theta.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                params = {**obj.fixed, **obj.unflatten(theta)}
                out = functional_call(obj.module, params, (X,))
                losses = vmap(lambda o, y: obj.loss(o, y).reshape(()))(out, Y)
                names = [ly.name for ly in self.layers]
                grads = torch.autograd.grad(losses.sum(), [outs[k] for k in names])
        finally:
            for h in handles:
                h.remove()
        for ly, g in zip(self.layers, grads, strict=True):
            yield ly, ly.inputs(seen[ly.name]), ly.out_grads(g)

    def quad_samples(self, X, Y):
        """Quadratic forms ``g_n^T (H + damping I)^-1 g_n`` of the samples' own gradients.

        The per-sample gradient of a layer is ``sum_t g_nt a_nt^T`` (output gradients
        and inputs from one forward / backward pass with hooks, as for the eigenvalue
        correction), projected into the Kronecker eigenbasis: no per-sample gradient of
        the whole parameter vector is formed. Equals ``quad(per_sample_grads(X, Y))``.

        Parameters
        ----------
        X, Y : Tensor
            A batch of samples and their targets (the training labels).

        Returns
        -------
        Tensor of shape (len(X),)
        """
        total = torch.zeros(X.shape[0], dtype=torch.float64, device=X.device)
        for ly, a, g in self._io(X, Y):
            ga = g @ self.QS[ly.name]
            aa = a @ self.QA[ly.name]
            step = max(1, (1 << 24) // (ly.out * ly.cols))
            for s in range(0, ga.shape[0], step):
                P = torch.einsum("bto,bti->boi", ga[s : s + step], aa[s : s + step])
                total[s : s + step] += (P * P / self.denom[ly.name]).flatten(1).sum(1)
        return total

    def _project(self, B):
        """Flat rows (m, p) -> per layer the blocks in the Kronecker eigenbasis."""
        for ly in self.layers:
            V = ly.block(B)
            yield ly, self.QS[ly.name].T @ V @ self.QA[ly.name]

    def solve(self, B):
        out = torch.zeros_like(B)
        for ly, P in self._project(B):
            P = P / self.denom[ly.name]
            ly.unblock(self.QS[ly.name] @ P @ self.QA[ly.name].T, out)
        return out

    def quad(self, G):
        total = torch.zeros(G.shape[0], dtype=G.dtype, device=G.device)
        for ly, P in self._project(G):
            total += (P * P / self.denom[ly.name]).flatten(1).sum(1)
        return total
