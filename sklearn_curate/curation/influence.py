"""Influence functions: how much each training sample moves each test loss.

:class:`InfluenceScorer` fits (or takes) a model, ports its training objective to
torch in float64 (scikit-learn's LogisticRegression exactly; any torch module with a
per-sample loss) and predicts, for every pair (test sample, training sample), the
change of the test loss that retraining without the training sample would show.
It computes only: :func:`sklearn_curate.save_influence` (in ``report._influence``) writes
the full arrays and a picture of the most helpful and most harmful training images
per test sample.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..base import BaseCurator
from ..utils._device import is_gpu_array, resolve_device, to_numpy
from ..utils._validation import is_torch_module
from ._influence_core import (
    LogisticObjective,
    ModuleObjective,
    chunks,
    make_solver,
    n_chunks,
    train_chord,
    train_lbfgs,
)

__all__ = ["InfluenceScorer"]


#: "auto" self-influence uses the dense Cholesky solve up to this many parameters
#: (a 5,000 x 5,000 float64 Hessian is 200 MB): n_train right-hand sides are far
#: cheaper to solve with one factorisation than with CG or LiSSA.
_EXACT_MAX_PARAMS = 5000

#: Methods that approximate the curvature itself: their quadratic forms
#: ``g^T H^-1 g`` cost one product per sample, so "auto" self-influence uses them.
_APPROXIMATIONS = frozenset({"ekfac", "arnoldi"})


def _is_skorch(est):
    return hasattr(est, "module_") and hasattr(est, "criterion_") and hasattr(est, "initialize")


class InfluenceScorer(BaseCurator):
    """Influence of every training sample on test losses (Koh & Liang, 2017).

    The training objective is ``total(theta) = c * sum_i l_i(theta) + R(theta)``:
    for scikit-learn's :class:`~sklearn.linear_model.LogisticRegression` exactly its
    own, ``c = C`` and ``R = 0.5 ||W||^2`` (intercept unpenalised; binary and
    multinomial); for a torch module ``c = 1 / n_samples`` (the mean loss) and
    ``R = 0.5 * weight_decay * ||theta||^2``. Removing training sample ``i``
    moves the optimum by ``~ H^-1 c grad l_i`` (``H`` the Hessian of ``total``, plus
    ``damping * I``), so the test loss changes by

    ``influence[j, i] = c * grad L_test_j^T H^-1 grad l_i``.

    Sign and scale are those of leave-one-out retraining: ``influence[j, i]`` predicts
    ``L_test_j(theta without i) - L_test_j(theta)``. Positive = removing ``i``
    raises the test loss (``i`` is *helpful*); negative = removing it lowers the
    test loss (``i`` is *harmful*). Koh & Liang's ``I_up,loss`` (the effect
    of up-weighting ``i``) is ``-n`` times this. captum 0.9 and pyDVL 0.10 return
    ``grad L_test^T H^-1 grad l_i`` without that minus sign, so their sign is ours;
    pyDVL's ``H`` is the Hessian of the mean loss, which makes its values ``n`` times
    ours for a mean-loss objective (measured: ``benchmarks/peers/influence_peers.py``,
    ``docs/benchmarks.md``).

    As a curator, ``scores_`` is minus the self-influence (the predicted rise of a
    sample's own loss when it is left out; high for atypical, hard or mislabelled
    samples) and ``fit_resample`` drops the ``round(fraction * n_samples)`` samples
    with the highest self-influence.

    Parameters
    ----------
    estimator : LogisticRegression or torch.nn.Module, default=None
        The model. ``None`` means ``LogisticRegression()``. LogisticRegression must
        use the L2 objective (``l1_ratio`` 0, a solver other than liblinear, no
        ``class_weight``). A torch module maps a float batch ``X`` to outputs scored
        by ``loss``; it is trained in float64 on a copy. A fitted skorch net is
        accepted with ``refit=False`` (its ``module_`` and ``criterion_``; untested
        here, skorch is optional).
    method : {"auto", "exact", "cg", "lissa", "ekfac", "arnoldi"}, default="auto"
        How ``H^-1`` is applied. "exact": the dense Hessian, Cholesky-factorised once
        and reused for every test point (``p^2`` memory, ``p^3 / 3`` operations).
        "cg": conjugate gradient on Hessian-vector products, all right-hand sides of
        one call solved together as a block (no dense Hessian), preconditioned
        with the inverse of each class's diagonal block for LogisticRegression.
        "lissa": the Neumann series of Agarwal et al. (2017), see ``lissa_*``.
        "ekfac" (torch modules whose influence parameters all belong to
        ``nn.Linear`` / ``nn.Conv2d`` layers, groups=1, integer padding): the
        eigenvalue-corrected Kronecker-factored Gauss-Newton / Fisher matrix of
        George et al. (2018) as used for influence by Grosse et al. (2023) and the
        kronfluence library, one block per layer: Kronecker factors of the layer
        inputs (a Conv2d's unfolded patches, a 1 appended for the bias) and of the
        output gradients (see ``fisher``), their eigenbases, and corrected
        eigenvalues (the mean squares of the per-sample gradients projected into
        them). Fitted in two passes over the training data (memory: the factors'
        eigenbases and one corrected eigenvalue per parameter); a solve and a
        self-influence then cost two small matrix products per layer, no iteration.
        It approximates the Gauss-Newton matrix (positive semi-definite), not the
        Hessian, and ignores curvature between layers (see Notes for its agreement
        with the dense Gauss-Newton matrix).
        "arnoldi" (Schioppa et al. 2022): ``arnoldi_iter`` steps of Arnoldi
        iteration on full-batch Hessian-vector products find the ``arnoldi_rank``
        eigenpairs of largest magnitude (``arnoldi_eigenvalues_``); ``H^-1`` is
        applied in their span, the other (flatter) directions are dropped, and so
        are directions whose eigenvalue plus damping is not positive. Memory
        ``arnoldi_iter * p`` floats; a solve and a self-influence cost one product
        with the ``rank x p`` basis, no iteration. Any model (LogisticRegression
        too). Never picked by "auto".
        "auto": "exact" up to 5,000 parameters (a 200 MB Hessian); above that
        "ekfac" for torch modules whose influence parameters all sit in Linear /
        Conv2d layers, else "cg". On
        the digits (650 parameters, 1,500 x 100 influences) "exact" took 0.03-0.12 s
        and preconditioned CG 2.2 s (58 iterations; 25 s and 169 iterations without
        the preconditioner), both agreeing to Spearman 1.000.
    damping : float >= 0 or "auto", default="auto"
        Added to the Hessian's diagonal (for "ekfac": to every corrected
        eigenvalue). Needed when the model is not at a strict minimum (a torch model
        trained elsewhere, or without weight decay). "auto": 0.0 for "exact", "cg"
        and "lissa" (the strict minimum that ``refit`` reaches needs none); for
        "ekfac" 0.1 times the mean corrected eigenvalue of each layer, the rule of
        Grosse et al. (2023) and kronfluence's default (a tenth of the typical
        curvature: directions flatter than that are not trusted), recorded in
        ``ekfac_damping_``.
    fraction : float in [0, 1), default=0.01
        Share of training rows ``fit_resample`` drops (highest self-influence first).
    refit : bool or "auto", default="auto"
        True: fit a clone of the estimator (LogisticRegression) or train a float64
        copy of the module by full-batch L-BFGS (at most ``5 * max_iter``
        iterations) until the gradient norm is below ``tol``. False: ``estimator``
        is already fitted and is used as it is. "auto": True for
        LogisticRegression and for torch modules with at most 5,000 influence
        parameters (see ``layers``), False for larger modules. Why: the influence
        formula holds at a strict minimum, which a convex model or a small network
        trained to a tight tolerance reaches. A larger network has no global
        optimum to retrain to: full-batch L-BFGS in float64 would find some other
        stationary point, at a cost that grew beyond 15 minutes for a 136,586-parameter
        CNN on 1,500 digits, and the influences would then describe that point rather
        than the network the user trained. Large networks are therefore taken as
        trained, as in the influence work on networks (Schioppa et al. 2022; Grosse
        et al. 2023), with ``damping`` standing in for the missing strict minimum.
        Pass ``refit=True`` to train one anyway, or use ``layers`` on the last
        layer, which is then trained to its (convex) optimum.
    polish : bool or "auto", default="auto"
        After fitting, refine the parameters until the gradient norm is below
        ``tol`` (the influence formula assumes an exact optimum).
        LogisticRegression: Newton steps on the torch port (scikit-learn stops at
        ``tol=1e-4``); the refined parameters are ``params_``, ``estimator_`` is
        left as scikit-learn fitted it. Torch modules with at most 5,000
        influence parameters, when L-BFGS stopped above ``tol``: damped Newton steps
        (dense Hessian, Armijo backtracking on the objective) while the Hessian is
        positive definite (ReLU networks often stop where it is not; up to 30 steps);
        larger modules are never polished (a dense Hessian per step). "auto": True
        for LogisticRegression and for torch modules trained here (``refit_``
        True), False for a module taken as trained: moving a trained network's
        parameters to a nearby stationary point would change the model whose
        training data are being explained.
    layers : list of str, default=None
        Torch modules only: dotted names of sub-modules (as in
        ``module.named_modules()``, e.g. ``["fc2"]`` or ``["3"]`` in a
        Sequential) whose parameters are the influence parameters ``theta``; the
        other parameters are held fixed at their values. ``None``: every parameter
        with ``requires_grad``. Influences then use the gradients of these
        parameters and the block of the Hessian that belongs to them (the curvature
        with the other layers frozen); ``n_params_`` is their number. The last
        layer alone is the common cheap choice (Koh & Liang 2017 used it for
        Inception; Schioppa et al. 2022 and Grosse et al. 2023 compare layer
        choices): its block is small, and with a convex loss it is positive
        semi-definite. With ``refit=True`` only these parameters are trained (the
        others keep the module's values), so a network whose earlier layers are
        trained elsewhere gets a convex last-layer fit. Raises ``ValueError`` for an
        unknown name, a selection without trainable parameters, or with
        LogisticRegression.
    loss : callable, default=None
        Torch modules only: ``loss(output, target) -> scalar`` for ONE sample
        (output without the batch axis). ``None``: cross-entropy with integer
        targets. A torch loss module works too (it sees batches of one).
    weight_decay : float >= 0, default=0.0
        Torch modules only: ``R = 0.5 * weight_decay * ||theta||^2`` over the
        influence parameters ``theta`` (see ``layers``).
    tol : float, default=1e-10
        Gradient-norm target of training / polishing.
    max_iter : int, default=2000
        Iterations of L-BFGS for torch modules.
    cg_tol : float, default=1e-10
        Relative residual at which each CG column stops.
    cg_max_iter : int, default=None
        Maximum CG iterations (``None``: ``max(10 p, 1000)``).
    lissa_depth : int, default=5000
        Maximum number of LiSSA iterations. Convergence needs about
        ``scale / lambda_min * log(1 / error)`` of them.
    lissa_scale : float, default=None
        Must exceed the largest eigenvalue of the (minibatch) Hessian + damping.
        ``None``: 1.5 times (full batch) or 2 times (minibatches) the largest
        eigenvalue estimated by power iteration. A given value below the estimate
        raises ``ValueError`` at the first LiSSA solve (``fit`` or ``influence``).
    lissa_batch_size : int, default=None
        Samples per stochastic Hessian-vector product; ``None`` = all of them (a
        deterministic iteration, which then stops early at ``lissa_tol``).
    lissa_repeat : int, default=1
        Independent LiSSA runs averaged.
    lissa_tol : float, default=1e-6
        Full batch only: stop when an iteration changes the estimate by less than this
        (relative).
    self_influence_method : {"auto", "cg", "exact", "lissa", "ekfac", "arnoldi"}, default="auto"
        Solver of the ``n_samples`` self-influences behind ``scores_``. "auto":
        ``method_`` when it approximates the curvature ("ekfac", "arnoldi": its quadratic
        forms ``g^T H^-1 g`` need no solve, so the self-influences agree with the
        influences); else "exact" up to 5,000 parameters (one factorisation serves
        every training sample; CG or LiSSA on ``n_samples`` right-hand sides costs
        far more), else ``method_``.
    fisher : {"auto", "sampled", "empirical"}, default="auto"
        Method "ekfac" only: where the output gradients of the Kronecker factor
        ``S`` and of the eigenvalue correction come from. "sampled": labels drawn
        once per training sample from the model's softmax (seeded by
        ``random_state``), the true Fisher, which for cross-entropy equals the
        Gauss-Newton matrix in expectation (kronfluence's default); needs
        ``(n, n_classes)`` logits. "empirical": the training labels (the
        empirical Fisher, biased where the model is wrong or uncertain). "auto":
        "sampled" with the default cross-entropy ``loss``, "empirical" with a
        user ``loss`` (no distribution to sample from). On the digits CNN of the
        Notes the sampled Fisher agreed better with the dense Gauss-Newton
        matrix (median row Spearman 0.75 vs 0.65 at damping 0.1).
    arnoldi_iter : int, default=200
        Method "arnoldi": Arnoldi steps (Hessian-vector products on the whole
        training set), at most ``n_params_``.
    arnoldi_rank : int, default=100
        Method "arnoldi": eigenpairs kept, at most ``arnoldi_iter``.
    batch_size : int, default=512
        Samples per chunk of per-sample gradients, training and test alike
        (memory ``batch_size * p`` floats on each side, never ``n_samples * p``);
        :meth:`influence` solves one chunk of test points at a time.
    cache_gradients : bool, default=False
        Keep all training gradients (``n_samples * p`` floats) for faster repeated
        :meth:`influence` calls.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the torch computations run ("auto": cuda when torch sees one); see
        :func:`sklearn_curate.utils._device.resolve_device` (step ``"influence"``).
    random_state : int, RandomState or None, default=None
        Seeds LiSSA minibatches and power iteration.
    progress : bool, default=False
        Show tqdm bars over long loops.

    Attributes
    ----------
    estimator_ : object
        The fitted model (for a torch module: the float64 copy with trained weights).
    params_ : ndarray of shape (n_params,)
        The flat float64 parameters at which influences are computed.
    n_params_ : int
        Number of influence parameters p (those of ``layers`` when given).
    grad_norm_ : float
        Gradient norm of the total objective at ``params_``.
    scores_ : ndarray of shape (n_samples,)
        Minus the self-influence ``c grad l_i^T H^-1 grad l_i``.
    self_influence_ : ndarray of shape (n_samples,)
        The self-influence (>= 0 for a positive definite Hessian).
    support_, sample_indices_, n_removed_, n_tied_at_cutoff_ : as every curator.
    refit_ : bool
        Whether ``fit`` trained the model (``refit`` resolved).
    polish_ : bool
        Whether ``fit`` polished the parameters (``polish`` resolved).
    method_ : {"exact", "cg", "lissa", "ekfac", "arnoldi"}
        The solver ``method`` resolved to ("auto" picks by ``n_params_``).
    self_influence_method_ : {"exact", "cg", "lissa", "ekfac", "arnoldi"}
        The solver of ``self_influence_``.
    fisher_ : {"sampled", "empirical"}
        With "ekfac" (after its fit): the Fisher used.
    ekfac_damping_ : dict of str to float
        With "ekfac" (after its fit): the damping of each layer (by module name).
    arnoldi_eigenvalues_ : ndarray
        With "arnoldi" (after its fit): the kept eigenvalues of the Hessian.
    lissa_scale_ : float
        With method="lissa": the scale used (after the first solve).
    device_ : {"cpu", "cuda"}
        Where the torch computations run.
    backend_ : str
        "torch".
    n_features_in_ : int
        Number of features of a 2-D ``X`` seen in ``fit`` (only then, as for
        :class:`~sklearn_curate.embedding.TorchLayerEmbedder`).
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names of a DataFrame ``X`` seen in ``fit`` (only then).
    sample_shape_ : tuple of int
        Shape of one training sample: ``(n_features,)`` for a 2-D ``X``,
        ``(C, H, W)`` for images ``(n, C, H, W)``. Test data must have it.

    Notes
    -----
    Input. ``X`` is 2-D ``(n_samples, n_features)``, or, for a torch module, an
    array (or CPU/CUDA tensor) of any rank whose first axis is the samples, e.g.
    images ``(n, C, H, W)``: the module receives float64 batches of shape
    ``(b, *sample_shape_)``. ``fit_resample`` returns the kept rows in the shape
    given. LogisticRegression needs 2-D ``X`` (``ValueError`` otherwise).

    Accuracy, measured on the digits (1,500 train / 297 test, X / 16, 10 classes,
    LogisticRegression C=1; ``benchmarks/bench_influence.py``): against "exact",
    Spearman over all 1,500 training points 1.0000 for "cg" and >= 0.987 (5 test
    points, the lowest) for "lissa" with its defaults; "exact" against true
    leave-one-out retraining (Newton in float64 to gradient norm < 1e-10, the 40
    most influential points of each of 5 test points) Pearson 0.993 pooled. For
    torch modules the objective is non-convex and a left-out point can move the
    optimum non-locally, so the agreement is lower and not guaranteed. A tanh MLP
    with 64 hidden units (4,810 parameters, weight decay 1e-3, no damping; polished to
    gradient norm 5e-11), 5 test points: Pearson 0.966 over the 10 most influential
    training points of each (0.992 over the 22 of 50 retrainings that converged to
    gradient norm < 1e-8; the others stopped between 1e-8 and 2e-6) and 0.935 over 10
    random ones each (0.999 over the 45 of 50 converged); the predictions are about
    half the actual changes (slope 0.48). ``benchmarks/bench_influence.py``
    (``mlp_quality``). The same network with ReLU units ends training at
    gradient norm 1.5e-3, where the polish makes no progress (``damping=0.01``
    needed) and no retraining converges: Pearson 0.92 / 0.46 on top / random pairs,
    a statement about the unconverged training more than about the approximation.

    Speed (2 shared CPU cores, ``benchmarks/peers/influence_peers.py``): "exact"
    influence of 1,500 training points on 100 test points 0.03 s including the
    Hessian and its factorisation (0.009 s once factorised); preconditioned "cg"
    0.05 s for 5 test points and 0.9-1.0 s for 100 (58 iterations); "lissa" runs
    all ``lissa_depth`` iterations here (1.9 s for 5 test points, minutes for 100).
    pyDVL's block CG took 0.3 s and captum's naive influence 0.4 s for 100 test
    points in the same run.

    Cost: per-sample gradients by ``torch.func.vmap(grad)`` in chunks of
    ``batch_size``; ``influence`` needs one solve per test point and one product per
    chunk of training gradients. With "ekfac" the self-influences behind ``scores_``
    take each layer's per-sample gradient from forward / backward hooks, in the
    Kronecker eigenbasis, without whole-vector gradients (on the 136,586-parameter
    CNN of ``benchmarks/bench_influence_cnn.py``, 2 shared CPU cores: fit 43 s before,
    13 s after).

    EK-FAC, measured on the digits (``tests/curation/test_influence_cnn.py``): a CNN
    of two 3x3 convolutions (4 and 8 channels, tanh) and a linear layer, 1,626
    parameters, Adam-trained to 100% training accuracy on 1,500 images, weight decay
    1e-3, taken as trained. Against the dense Gauss-Newton matrix with the same
    damping, over the full 1,500-wide influence rows of 5 test points: damping 0.1:
    Spearman 0.58-0.87 (median 0.75), Pearson 0.88-0.96 (median 0.94), Spearman
    of the 100 largest entries per row median 0.92; damping 0.01: Spearman median
    0.41, Pearson median 0.81; damping 0.001: Spearman median 0.28, Pearson median
    0.70. Self-influences (``scores_``): Spearman 0.996-0.9996 at every damping.
    The last layer alone (``layers``, 1,290 parameters) against its Gauss-Newton
    block: Spearman median 0.78 / 0.48 / 0.37 and Pearson median 0.99 / 0.92 /
    0.81 at damping 0.1 / 0.01 / 0.001. Full-row Spearman is low where most
    training samples are fitted with near-zero gradients (their influences are
    ranked by noise); small damping weighs the flat directions, where a
    Kronecker-factored, layer-diagonal approximation is least accurate. The dense
    Hessian itself agreed with the dense Gauss-Newton matrix at Spearman median
    0.81 (damping 0.001). Cost on 2 shared CPU cores (indicative): EK-FAC fit
    (both passes) 0.3-0.6 s, 20 x 1,500 influences 0.1 s; the dense Hessian of the
    same network took 266 s.

    References
    ----------
    .. [1] P. W. Koh, P. Liang, "Understanding Black-box Predictions via Influence
       Functions", ICML 2017.
    .. [2] N. Agarwal, B. Bullins, E. Hazan, "Second-Order Stochastic Optimization
       for Machine Learning in Linear Time", JMLR 2017.
    .. [3] T. George, C. Laurent, X. Bouthillier, N. Ballas, P. Vincent, "Fast
       Approximate Natural Gradient Descent in a Kronecker-factored Eigenbasis",
       NeurIPS 2018.
    .. [4] R. Grosse, J. Bae, C. Anil et al., "Studying Large Language Model
       Generalization with Influence Functions", arXiv:2308.03296, 2023
       (kronfluence: https://github.com/pomonam/kronfluence).
    .. [5] A. Schioppa, P. Zablotskaia, D. Vilar, A. Sokolov, "Scaling Up Influence
       Functions", AAAI 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_curate.curation.influence import InfluenceScorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3)); y = (X[:, 0] > 0).astype(int)
    >>> s = InfluenceScorer(LogisticRegression(C=0.5), method="exact").fit(X, y)
    >>> s.influence(X[:2], y[:2]).shape
    (2, 60)
    """

    _parameter_constraints: dict = {
        "estimator": [None, HasMethods(["fit"]), torch.nn.Module],
        "method": [StrOptions({"auto", "cg", "exact", "lissa", "ekfac", "arnoldi"})],
        "damping": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "fraction": [Interval(Real, 0, 1, closed="left")],
        "refit": ["boolean", StrOptions({"auto"})],
        "polish": ["boolean", StrOptions({"auto"})],
        "layers": [None, list, tuple],
        "loss": [None, callable],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "cg_tol": [Interval(Real, 0, None, closed="left")],
        "cg_max_iter": [None, Interval(Integral, 1, None, closed="left")],
        "lissa_depth": [Interval(Integral, 1, None, closed="left")],
        "lissa_scale": [None, Interval(Real, 0, None, closed="neither")],
        "lissa_batch_size": [None, Interval(Integral, 1, None, closed="left")],
        "lissa_repeat": [Interval(Integral, 1, None, closed="left")],
        "lissa_tol": [Interval(Real, 0, None, closed="left")],
        "self_influence_method": [StrOptions({"auto", "cg", "exact", "lissa", "ekfac", "arnoldi"})],
        "arnoldi_iter": [Interval(Integral, 1, None, closed="left")],
        "arnoldi_rank": [Interval(Integral, 1, None, closed="left")],
        "fisher": [StrOptions({"auto", "sampled", "empirical"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "cache_gradients": ["boolean"],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "random_state": ["random_state"],
        "progress": ["boolean"],
    }
    _y_role = "required"  # one target per row; a one-hot y is read as labels

    def __init__(
        self,
        estimator=None,
        *,
        method="auto",
        damping="auto",
        fraction=0.01,
        refit="auto",
        polish="auto",
        layers=None,
        loss=None,
        weight_decay=0.0,
        tol=1e-10,
        max_iter=2000,
        cg_tol=1e-10,
        cg_max_iter=None,
        lissa_depth=5000,
        lissa_scale=None,
        lissa_batch_size=None,
        lissa_repeat=1,
        lissa_tol=1e-6,
        self_influence_method="auto",
        fisher="auto",
        arnoldi_iter=200,
        arnoldi_rank=100,
        batch_size=512,
        cache_gradients=False,
        device="auto",
        random_state=None,
        progress=False,
    ):
        self.estimator = estimator
        self.method = method
        self.damping = damping
        self.fraction = fraction
        self.refit = refit
        self.polish = polish
        self.layers = layers
        self.loss = loss
        self.weight_decay = weight_decay
        self.tol = tol
        self.max_iter = max_iter
        self.cg_tol = cg_tol
        self.cg_max_iter = cg_max_iter
        self.lissa_depth = lissa_depth
        self.lissa_scale = lissa_scale
        self.lissa_batch_size = lissa_batch_size
        self.lissa_repeat = lissa_repeat
        self.lissa_tol = lissa_tol
        self.self_influence_method = self_influence_method
        self.fisher = fisher
        self.arnoldi_iter = arnoldi_iter
        self.arnoldi_rank = arnoldi_rank
        self.batch_size = batch_size
        self.cache_gradients = cache_gradients
        self.device = device
        self.random_state = random_state
        self.progress = progress

    # -- validation ------------------------------------------------------------------
    def _is_module(self):
        est = self.estimator
        return est is not None and (is_torch_module(est) or _is_skorch(est))

    def _validate_X(self, X, y=None, *, reset=True, min_samples=1):
        """Validate ``X`` of shape (n, d) or, for torch modules, (n, *sample_shape).

        A 2-D ``X`` goes through the curator's checks (``n_features_in_``, feature
        names). An n-D array keeps its first axis as the samples: it is checked
        (finite, float, non-empty, ``y`` of the same length) on the 2-D view
        ``(n, prod(sample_shape))`` and returned in its own shape; ``n_features_in_``
        and ``feature_names_in_`` are then not set, as for
        :class:`~sklearn_curate.embedding.TorchLayerEmbedder`.
        """
        X = _as_array_nd(X)
        ndim = X.ndim if hasattr(X, "ndim") else np.ndim(X)
        if ndim <= 2:
            X, y = super()._validate_X(X, y, reset=reset, min_samples=min_samples)
            if reset:
                self.sample_shape_ = tuple(X.shape[1:])
            return X, y
        if not self._is_module():
            name = "LogisticRegression" if self.estimator is None else type(self.estimator).__name__
            raise ValueError(
                f"X has shape {tuple(X.shape)} (n-D), but {name} needs 2-D X of shape "
                "(n_samples, n_features): pass X.reshape(len(X), -1), or a torch module "
                "that takes samples of this shape."
            )
        X = check_array(
            X,
            allow_nd=True,
            dtype=[np.float64, np.float32],
            ensure_min_samples=min_samples,
            ensure_min_features=0,
            ensure_all_finite=True,
        )
        if X.size == 0:
            raise ValueError(f"X has shape {X.shape} with no values; pass non-empty samples.")
        shape = tuple(X.shape)
        flat, y = super()._validate_X(X.reshape(shape[0], -1), y, reset=reset, min_samples=1)
        for attr in ("n_features_in_", "feature_names_in_"):
            if reset and hasattr(self, attr):
                delattr(self, attr)
        if reset:
            self.sample_shape_ = shape[1:]
        return np.asarray(flat).reshape(shape), y

    def _validate_test(self, X_test, y_test):
        """Validate test data against the fitted sample shape; return torch tensors."""
        check_is_fitted(self, "params_")
        if y_test is None:
            raise ValueError("influence needs the test targets y_test.")
        shape = getattr(self, "sample_shape_", None)
        X_test = _as_array_nd(X_test)
        ndim = X_test.ndim if hasattr(X_test, "ndim") else np.ndim(X_test)
        if shape is None or len(shape) == 1:
            X_test, y_test = validate_data(
                self, X_test, y_test, reset=False, dtype=[np.float64, np.float32], y_numeric=False
            )
        else:
            X_test = check_array(
                X_test,
                allow_nd=True,
                dtype=[np.float64, np.float32],
                ensure_min_features=0,
                ensure_all_finite=True,
            )
            if tuple(X_test.shape[1:]) != tuple(shape) or ndim != len(shape) + 1:
                raise ValueError(
                    f"X_test has samples of shape {tuple(X_test.shape[1:])}, but "
                    f"{type(self).__name__} was fitted on samples of shape {tuple(shape)}."
                )
            y_test = np.asarray(y_test)
            if y_test.ndim != 1 or y_test.shape[0] != X_test.shape[0]:
                raise ValueError(
                    f"y_test has shape {y_test.shape}; pass one target per test sample "
                    f"({X_test.shape[0]})."
                )
        Xt = torch.as_tensor(np.asarray(X_test, dtype=np.float64), device=self._dev)
        return Xt, self._targets(y_test)

    def get_feature_names_out(self, input_features=None):
        """Get the feature names of ``fit_resample``'s output: the input's, unchanged.

        Defined when ``fit`` saw a 2-D ``X``, as for every curator.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            As for :meth:`BaseCurator.get_feature_names_out`.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The same names.

        Raises
        ------
        ValueError
            If ``fit`` saw n-D samples (no feature names are defined for them).
        sklearn.exceptions.NotFittedError
            If the scorer is not fitted.
        """
        shape = getattr(self, "sample_shape_", None)
        if shape is not None and len(shape) != 1:
            raise ValueError(
                f"fit saw samples of shape {tuple(shape)}; feature names are defined for "
                "2-D X (n_samples, n_features) only."
            )
        return super().get_feature_names_out(input_features)

    # -- fitting ---------------------------------------------------------------------
    def _targets(self, y):
        if self._kind == "logistic":
            classes = self.estimator_.classes_
            pos = np.searchsorted(classes, y)
            bad = (pos >= len(classes)) | (classes[np.minimum(pos, len(classes) - 1)] != y)
            if bad.any():
                raise ValueError(
                    f"y holds labels not seen in fit: {np.unique(np.asarray(y)[bad])[:5]}"
                )
            return torch.as_tensor(pos, device=self._dev)
        y = np.asarray(y)
        if y.dtype.kind in "iub":
            return torch.as_tensor(y.astype(np.int64), device=self._dev)
        return torch.as_tensor(y.astype(np.float64), device=self._dev)

    def _fit_scores(self, X, y):
        if y is None:
            raise ValueError(
                "InfluenceScorer requires y to be passed, but the target y is None: call fit(X, y)."
            )
        est = self.estimator
        choice = resolve_device(self.device, "influence", n_samples=X.shape[0])
        self.device_, self.backend_ = choice.device, choice.backend
        self._dev = dev = torch.device(choice.device)
        # a copy: torch cannot share memory with read-only arrays (e.g. memory-mapped)
        Xt = torch.tensor(np.asarray(X, dtype=np.float64), device=dev)
        if est is None:
            from sklearn.linear_model import LogisticRegression

            est = LogisticRegression()
        if is_torch_module(est) or _is_skorch(est):
            self._kind = "module"
            if _is_skorch(est):
                if _auto_or_bool(self.refit) is True:
                    raise ValueError("Pass a fitted skorch net with refit=False.")
                module, loss = est.module_, (self.loss or est.criterion_)
            else:
                module, loss = est, self.loss
            Yt = self._targets(y)
            self._loss_is_ce = loss is None
            layers = None if self.layers is None else list(self.layers)
            obj = ModuleObjective(module, loss, self.weight_decay, Xt, Yt, dev, layers)
            refit, polish = _auto_or_bool(self.refit), _auto_or_bool(self.polish)
            small = obj.n_params <= _EXACT_MAX_PARAMS
            self.refit_ = refit is True or (refit == "auto" and small and not _is_skorch(est))
            self.polish_ = polish is True or (polish == "auto" and self.refit_)
            if self.refit_:
                obj.theta, _, self.n_iter_ = train_lbfgs(
                    obj, obj.theta, tol=self.tol, max_iter=self.max_iter
                )
            if self.polish_:
                obj.theta = _polish_module(obj, self.tol)
            self.estimator_ = obj.write_back()
        else:
            self._kind = "logistic"
            if self.layers is not None:
                raise ValueError(
                    f"layers={self.layers!r} applies to torch modules only; "
                    f"{type(est).__name__} has one block of parameters (pass layers=None)."
                )
            self.refit_ = _auto_or_bool(self.refit) in (True, "auto")
            self.polish_ = _auto_or_bool(self.polish) in (True, "auto")
            self.estimator_ = clone(est).fit(X, y) if self.refit_ else est
            check_is_fitted(self.estimator_)
            self._check_logistic(self.estimator_)
            Yt = self._targets(y)
            obj = LogisticObjective(self.estimator_, Xt, Yt, dev)
            if self.polish_:
                obj.theta, _, self.n_iter_ = train_lbfgs(
                    obj, obj.theta, tol=self.tol, max_iter=100, newton=True
                )
        self._obj = obj
        self.params_ = obj.theta.cpu().numpy().copy()
        self.n_params_ = obj.n_params
        self.grad_norm_ = float(obj.grad_total().norm())
        self._solvers = {}
        self.method_ = self._resolve_method(self.method)
        self._train_grads = None
        self._rng = np.random.default_rng(check_random_state(self.random_state).randint(2**31))
        if self.cache_gradients:
            self._train_grads = torch.cat([g for _, g in self._iter_train_grads()], 0)
        self.self_influence_ = self._self_influence()
        return -self.self_influence_

    @staticmethod
    def _check_logistic(est):
        name = type(est).__name__
        if not (hasattr(est, "coef_") and hasattr(est, "classes_") and hasattr(est, "C")):
            raise TypeError(
                f"estimator must be a scikit-learn LogisticRegression or a torch.nn.Module; "
                f"got {name}."
            )
        penalty = getattr(est, "penalty", "l2")
        l1 = getattr(est, "l1_ratio", None)
        if penalty not in ("l2", "deprecated") or l1 not in (None, 0, 0.0):
            raise ValueError(
                f"{name} must use the L2 penalty (penalty='l2', l1_ratio=0); got "
                f"penalty={penalty!r}, l1_ratio={l1!r}: the influence formula needs a "
                "twice-differentiable objective."
            )
        if getattr(est, "solver", "lbfgs") == "liblinear" or getattr(est, "class_weight", None):
            raise ValueError(
                f"{name} with solver='liblinear' (penalised intercept, one-vs-rest) or "
                "class_weight is not supported; use solver='lbfgs' and no class_weight."
            )
        if not np.isfinite(est.C):
            raise ValueError("C=inf (no penalty) is not supported; pass a finite C.")

    # -- gradients and solves ----------------------------------------------------------
    def _iter_train_grads(self):
        from tqdm.auto import tqdm

        obj = self._obj
        n = obj.X.shape[0]
        if self._train_grads is not None:
            for sl in chunks(n, self.batch_size):
                yield sl, self._train_grads[sl]
            return
        it = chunks(n, self.batch_size)
        for sl in tqdm(
            it,
            total=n_chunks(n, self.batch_size),
            desc="train gradients",
            disable=not self.progress,
            leave=False,
        ):
            yield sl, obj.per_sample_grads(obj.X[sl], obj.Y[sl])

    def _damping(self, method):
        """Return the damping of ``method``: a float, or None for EK-FAC's per-layer rule."""
        if self.damping == "auto":
            return None if method == "ekfac" else 0.0
        return float(self.damping)

    def _solver(self, method):
        key = method
        if key not in self._solvers and method == "arnoldi":
            from ._arnoldi import ArnoldiSolver

            gen = torch.Generator(device="cpu").manual_seed(int(self._rng.integers(2**31)))
            solver = ArnoldiSolver(
                self._obj,
                self._damping(method),
                n_iter=self.arnoldi_iter,
                rank=self.arnoldi_rank,
                generator=gen,
                progress=self.progress,
            )
            self._solvers[key] = solver
            self.arnoldi_eigenvalues_ = solver.eigenvalues.cpu().numpy().copy()
        if key not in self._solvers and method == "ekfac":
            if self._kind != "module":
                raise ValueError(
                    "method='ekfac' applies to torch modules (nn.Linear / nn.Conv2d layers); "
                    "use 'exact' or 'cg' for LogisticRegression."
                )
            from ._ekfac import EKFACSolver

            fisher = self.fisher
            if fisher == "auto":
                fisher = "sampled" if self._loss_is_ce else "empirical"
            gen = torch.Generator(device="cpu").manual_seed(int(self._rng.integers(2**31)))
            solver = EKFACSolver(
                self._obj,
                self._damping(method),
                fisher=fisher,
                batch_size=self.batch_size,
                generator=gen,
                progress=self.progress,
            )
            self._solvers[key] = solver
            self.fisher_ = fisher
            self.ekfac_damping_ = dict(solver.damping)
        if key not in self._solvers:
            params = {
                k: getattr(self, k)
                for k in (
                    "cg_tol",
                    "cg_max_iter",
                    "lissa_depth",
                    "lissa_scale",
                    "lissa_batch_size",
                    "lissa_repeat",
                    "lissa_tol",
                )
            }
            self._solvers[key] = make_solver(
                method, self._obj, self._damping(method), params, self._rng, self.progress
            )
            if method == "lissa":
                self.lissa_scale_ = self._solvers[key].scale
        return self._solvers[key]

    def _resolve_method(self, method):
        """Resolve "auto": "exact" when the dense Hessian is small, else "ekfac" or "cg".

        "ekfac" for torch modules whose influence parameters all sit in Linear /
        Conv2d layers, "cg" otherwise.
        """
        if method != "auto":
            return method
        if self._obj.n_params <= _EXACT_MAX_PARAMS:
            return "exact"
        if self._kind == "module":
            from ._ekfac import ekfac_layers

            try:
                ekfac_layers(self._obj)
            except ValueError:
                return "cg"
            return "ekfac"
        return "cg"

    def _self_influence(self):
        method = self.self_influence_method
        if method == "auto":
            if self.method_ in _APPROXIMATIONS:
                method = self.method_
            else:
                method = "exact" if self._obj.n_params <= _EXACT_MAX_PARAMS else self.method_
        self.self_influence_method_ = method
        solver = self._solver(method)
        out = np.empty(self._obj.X.shape[0])
        if method == "ekfac" and self._train_grads is None:
            # per layer from one forward / backward pass: no whole-vector gradients
            obj = self._obj
            for sl in chunks(obj.X.shape[0], self.batch_size):
                out[sl] = (obj.c * solver.quad_samples(obj.X[sl], obj.Y[sl])).cpu().numpy()
            return out
        for sl, G in self._iter_train_grads():
            out[sl] = (self._obj.c * solver.quad(G)).cpu().numpy()
        return out

    def influence(self, X_test, y_test, *, method=None):
        """Predicted change of each test loss when each training sample is removed.

        Koh & Liang's influence function (ICML 2017; see the class References) with
        the sign and scale of leave-one-out retraining (see the class docstring);
        :meth:`loss_change_on_removal` measures the actual change it predicts.

        Parameters
        ----------
        X_test : array-like of shape (n_test, n_features) or (n_test, ...)
            Test samples, finite, of the shape of one training sample
            (``sample_shape_``; e.g. ``(n_test, C, H, W)`` images for a CNN).
        y_test : array-like of shape (n_test,)
            Their targets: labels seen in ``fit`` for LogisticRegression; what the
            loss takes for a torch module (integers as int64, other values as float64).
        method : {"auto", "cg", "exact", "lissa", "ekfac", "arnoldi"}, default=None
            Override of ``self.method`` for this call (its solver is cached).
            ``None``: ``method_``.

        Returns
        -------
        influence : ndarray of shape (n_test, n_train), dtype float64
            ``c * grad L_test^T (H + damping I)^-1 grad l_i``: the predicted
            ``L_test(theta without i) - L_test(theta)``, in units of the per-sample
            loss. Positive = helpful training sample, negative = harmful. Columns
            in the order of the rows given to ``fit``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the scorer is not fitted (a subclass of ValueError).
        ValueError
            If ``y_test`` is None, X_test and y_test differ in length, X_test is not
            finite or its samples differ in shape from ``fit``'s, y_test holds labels not seen
            in ``fit`` (LogisticRegression), for an unknown method, or when the
            solver fails: a Hessian (+ damping) that is not positive definite
            ("exact", "cg") or a ``lissa_scale`` not above its largest eigenvalue.
        """
        if method is None:
            check_is_fitted(self, "method_")
            method = self.method_
        if method not in ("auto", "cg", "exact", "lissa", "ekfac", "arnoldi"):
            raise ValueError(
                f"method={method!r}; choose 'auto', 'exact', 'cg', 'lissa', 'ekfac' or 'arnoldi'."
            )
        Xt, Yt = self._validate_test(X_test, y_test)
        solver = self._solver(self._resolve_method(method))
        out = np.empty((Xt.shape[0], self._obj.X.shape[0]))
        # test points in batches of batch_size: memory batch_size * p per side
        from tqdm.auto import tqdm

        n_test = Xt.shape[0]
        for tl in tqdm(
            chunks(n_test, self.batch_size),
            total=n_chunks(n_test, self.batch_size),
            desc="test batches",
            disable=not self.progress or n_test <= self.batch_size,
            leave=False,
        ):
            Gt = self._obj.per_sample_grads(Xt[tl], Yt[tl])
            S = solver.solve(Gt) * self._obj.c
            for sl, G in self._iter_train_grads():
                out[tl, sl] = (S @ G.T).cpu().numpy()
        return out

    def top_k(self, X_test, y_test, k=5, *, method=None):
        """Return the ``k`` most helpful and most harmful training samples per test sample.

        Ranks each row of :meth:`influence` ``(X_test, y_test, method=method)``. Equal
        influences are listed in a fixed order (a stable sort): lower training index
        first in ``harmful``, higher first in ``helpful``.

        Parameters
        ----------
        X_test : array-like of shape (n_test, n_features) or (n_test, ...)
            Test samples, as for :meth:`influence`.
        y_test : array-like of shape (n_test,)
            Their targets, as for :meth:`influence`.
        k : int, default=5
            Number of training samples of each kind per test sample; at most
            ``n_train`` are returned.
        method : {"auto", "cg", "exact", "lissa", "ekfac", "arnoldi"}, default=None
            Solver, as for :meth:`influence`.

        Returns
        -------
        result : dict of ndarrays of shape (n_test, min(k, n_train))
            ``helpful`` (int64 training-row indices, largest influence first),
            ``helpful_influence`` (their float64 influences), ``harmful`` (smallest,
            i.e. most negative, influence first) and ``harmful_influence``. When
            fewer than ``k`` training samples have a positive (negative) influence,
            ``helpful`` (``harmful``) continues with the next ones in order.

        Raises
        ------
        sklearn.exceptions.NotFittedError, ValueError
            As :meth:`influence`.
        """
        inf = self.influence(X_test, y_test, method=method)
        return _top_k(inf, k)

    def loss_change_on_removal(self, X_test, y_test, indices, *, tol=None):
        """Actual change of the test losses after retraining without each index.

        Retrains the torch port in float64, warm-started from ``params_``, without
        one training sample at a time until the gradient norm is below ``tol``
        (default ``self.tol``): Newton for LogisticRegression; for torch modules
        Newton-chord steps with the factorised Hessian of the full objective (up to
        5,000 parameters, when it is positive definite), then L-BFGS where they
        stall above ``tol`` (the better of the two is kept), else L-BFGS (at most 50
        Newton iterations for LogisticRegression, ``max_iter`` for torch modules).
        This is the ground truth :meth:`influence` predicts; the gradient norm each
        retraining reached is in ``loo_grad_norms_``. One retraining per index: the
        cost grows linearly with ``len(indices)``.

        Parameters
        ----------
        X_test : array-like of shape (n_test, n_features) or (n_test, ...)
            Test samples, as for :meth:`influence`.
        y_test : array-like of shape (n_test,)
            Their targets, as for :meth:`influence`.
        indices : sequence of int
            Training rows (0-based, in the order given to ``fit``) to leave out, one
            at a time.
        tol : float, default=None
            Gradient-norm target of each retraining; ``None``: ``self.tol``.

        Returns
        -------
        change : ndarray of shape (n_test, len(indices)), dtype float64
            ``L_test_j(theta without i) - L_test_j(theta)`` for each test sample
            ``j`` and each index ``i``, in units of the per-sample loss (the sign and
            scale of :meth:`influence`).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the scorer is not fitted.
        ValueError
            If ``y_test`` is None, X_test and y_test differ in length, X_test is not
            finite or its samples differ in shape from ``fit``'s, or y_test holds labels not
            seen in ``fit`` (LogisticRegression).
        IndexError
            If an index is not below ``n_train``.
        """
        from tqdm.auto import tqdm

        Xt, Yt = self._validate_test(X_test, y_test)
        tol = self.tol if tol is None else tol
        obj = self._obj
        base = obj.losses(obj.theta, Xt, Yt)
        n = obj.X.shape[0]
        out = np.empty((Xt.shape[0], len(indices)))
        chord = self._chord_solve() if self._kind == "module" else None
        self.loo_grad_norms_ = []
        for j, i in enumerate(tqdm(indices, desc="leave-one-out", disable=not self.progress)):
            keep = torch.ones(n, dtype=torch.bool, device=self._dev)
            keep[int(i)] = False
            Xk, Yk = obj.restrict(obj.theta, keep)
            res = None
            if chord is not None:
                res = train_chord(obj, obj.theta, chord, Xk, Yk, tol=tol)
            if res is None or res[1] >= tol:  # no chord, or it stalled: L-BFGS from there
                more = train_lbfgs(
                    obj,
                    obj.theta if res is None else res[0],
                    Xk,
                    Yk,
                    tol=tol,
                    max_iter=self.max_iter if self._kind == "module" else 50,
                    newton=self._kind == "logistic",
                )
                if res is None or more[1] < res[1]:
                    res = more
            theta, gn, _ = res
            self.loo_grad_norms_.append(gn)
            out[:, j] = (obj.losses(theta, Xt, Yt) - base).cpu().numpy()
        return out

    def _chord_solve(self):
        """``H^-1`` of the fitted objective for Newton-chord retraining, or None.

        The cached "exact" solver when the model has at most 5,000 parameters and its
        Hessian (+ damping) is positive definite; None otherwise (L-BFGS then).
        """
        if self._obj.n_params > _EXACT_MAX_PARAMS:
            return None
        try:
            return self._solver("exact").solve
        except ValueError:  # not positive definite
            return None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _polish_module(obj, tol, max_steps=30):
    """Damped Newton polish of a torch module's parameters (see ``polish``).

    Each step factorises the Hessian (stopping if it is not positive definite) and
    backtracks on the objective (Armijo); stops at gradient norm ``tol``, after
    ``max_steps`` steps, or when no step decreases the objective.
    """
    theta = obj.theta
    if obj.n_params > _EXACT_MAX_PARAMS:
        return theta
    for _ in range(max_steps):
        g = obj.grad_total(theta)
        if float(g.norm()) < tol:
            break
        L, info = torch.linalg.cholesky_ex(obj.hessian(theta))
        if int(info) != 0:
            break
        step = torch.cholesky_solve(g[:, None], L)[:, 0]
        f0, slope = float(obj.total(theta)), float(g @ step)
        t = 1.0
        while t > 1e-6 and float(obj.total(theta - t * step)) > f0 - 1e-4 * t * slope:
            t *= 0.5
        if t <= 1e-6:
            break
        theta = theta - t * step
    return theta


def _auto_or_bool(value):
    """``"auto"`` as it is, anything else (bool, numpy bool) as a Python bool."""
    return value if isinstance(value, str) else bool(value)


def _as_array_nd(X):
    """Host array for torch tensors and GPU arrays; other inputs unchanged."""
    if is_gpu_array(X):
        return to_numpy(X)
    if isinstance(X, torch.Tensor):
        return X.detach().numpy()
    return X


def _top_k(inf, k):
    k = min(int(k), inf.shape[1])
    order = np.argsort(inf, axis=1, kind="stable")
    harmful = order[:, :k]
    helpful = order[:, ::-1][:, :k]
    return {
        "helpful": helpful,
        "helpful_influence": np.take_along_axis(inf, helpful, 1),
        "harmful": harmful,
        "harmful_influence": np.take_along_axis(inf, harmful, 1),
    }
