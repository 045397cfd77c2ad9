"""Self-supervised training of an embedder with SimCLR (Chen et al. 2020).

Each batch of images is augmented twice; a small projection head maps the pooled
output of the embedding layer of both views to vectors on which the NT-Xent loss pulls
the two views of an image together and pushes the other images of the batch apart.
Only the model is kept; the head is dropped after training, as in the paper (the layer
before the head embeds better than the head's output).

The augmentations come from kornia (batched, on the model's device): the optional
extra ``pip install "sklearn-curate[ssl]"``. It works beside the CPU build of torch;
lightly, the library the Lightly worker wraps, needs torchvision, whose operators do
not load with it. The loss is NT-Xent as torch's cross entropy over one similarity
matrix (:func:`nt_xent_loss`), equal to pytorch-metric-learning's ``NTXentLoss`` and
far faster than it (see its Notes); any loss of that library can be passed instead.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ._embedder import _get_layer, _model_channels, _pool, _StopForward

__all__ = ["nt_xent_loss", "simclr_augmentation", "train_simclr", "SSL_EXTRA_HINT"]

#: How to install what SimCLR needs; part of every missing-extra message.
SSL_EXTRA_HINT = 'pip install "sklearn-curate[ssl]"'


def _require_kornia():
    """Import kornia's augmentations.

    Returns
    -------
    module
        ``kornia.augmentation``.

    Raises
    ------
    ImportError
        If kornia is missing; the message names the extra that installs it.
    """
    try:
        import kornia.augmentation as augmentation
    except ImportError as exc:
        raise ImportError(
            f"SimCLR's augmentations need kornia ({exc.name} is missing); install it "
            f"with: {SSL_EXTRA_HINT}"
        ) from None
    return augmentation


def simclr_augmentation(
    image_size,
    channels: int,
    *,
    crop_scale=(0.4, 1.0),
    flip: bool = False,
    jitter: float = 0.4,
    blur: bool = True,
) -> nn.Module:
    """Build the random view of SimCLR for small images, as one batched kornia module.

    SimCLR's recipe (Chen et al. 2020, Appendix A), scaled down: a random resized
    crop back to the image size, an optional horizontal flip, colour jitter
    (brightness and contrast; saturation and hue too for colour images) with
    probability 0.8, a random grayscale with probability 0.2 (colour images only) and
    a 3x3 Gaussian blur with probability 0.5.

    Parameters
    ----------
    image_size : int or tuple of (int, int)
        Height and width of the output views, in pixels (the input size).
    channels : int
        Channels of the images (1 for grayscale, 3 for RGB).
    crop_scale : tuple of (float, float), default=(0.4, 1.0)
        Range of the crop's area as a share of the image's. SimCLR uses (0.08, 1.0)
        on ImageNet; on 8x8 digits such small crops leave a few pixels of one stroke.
    flip : bool, default=False
        Flip horizontally with probability 0.5. Off by default: a flip changes the
        meaning of digits and letters; turn it on for photographs.
    jitter : float, default=0.4
        Strength of the colour jitter (SimCLR's 0.8 x s with s = 0.5); 0 turns it off.
    blur : bool, default=True
        Apply the random Gaussian blur.

    Returns
    -------
    torch.nn.Sequential
        Maps a float batch ``(n, channels, H, W)`` in [0, 1] to a batch of the same
        shape; each image draws its own parameters from torch's global generator.

    Raises
    ------
    ImportError
        Without kornia (the ``ssl`` extra).
    ValueError
        If ``crop_scale`` is not an increasing pair within (0, 1].

    References
    ----------
    .. [1] T. Chen, S. Kornblith, M. Norouzi, G. Hinton. "A Simple Framework for
       Contrastive Learning of Visual Representations". ICML 2020.
    """
    K = _require_kornia()
    h, w = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    lo, hi = (float(v) for v in crop_scale)
    if not 0 < lo <= hi <= 1:
        raise ValueError(
            f"crop_scale={crop_scale!r} must be (low, high) with 0 < low <= high <= 1, "
            "e.g. (0.4, 1.0)."
        )
    steps = [K.RandomResizedCrop((int(h), int(w)), scale=(lo, hi))]
    if flip:
        steps.append(K.RandomHorizontalFlip())
    colour = channels == 3
    if jitter > 0:
        j = float(jitter)
        steps.append(
            K.ColorJitter(j, j, j if colour else 0.0, min(j / 4, 0.5) if colour else 0.0, p=0.8)
        )
    if colour:
        steps.append(K.RandomGrayscale(p=0.2))
    if blur:
        steps.append(K.RandomGaussianBlur((3, 3), (0.1, 1.0), p=0.5))
    return nn.Sequential(*steps)


def nt_xent_loss(z: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent, SimCLR's loss, for a batch of paired views.

    Rows ``i`` and ``i + m`` of ``z`` are the two views of image ``i``. Each row is
    scored against the ``2m - 1`` others by cosine similarity over ``temperature``,
    and the loss is the mean cross entropy of picking its partner.

    Parameters
    ----------
    z : torch.Tensor of shape (2 * m, p)
        Projected views, first views then second views, in the same image order.
    temperature : float, default=0.5
        Divides the cosine similarities.

    Returns
    -------
    torch.Tensor
        The mean loss, a 0-d tensor (natural log units).

    Raises
    ------
    ValueError
        If ``z`` has an odd number of rows or fewer than 4 (two images).

    Notes
    -----
    This is ``pytorch_metric_learning.losses.NTXentLoss`` with labels
    ``arange(m).repeat(2)`` (tested equal to it to 1e-5), written as one
    ``(2m, 2m)`` similarity matrix and torch's ``cross_entropy``. The library's
    version scores every positive pair against every negative pair of the batch, an
    ``(2m) x (2m)(2m - 2)`` array: at m = 256 that is 134 million entries per step,
    and it took 40 of the 58 s of an epoch on 1,797 digits on a 2-core CPU.

    References
    ----------
    .. [1] T. Chen, S. Kornblith, M. Norouzi, G. Hinton. "A Simple Framework for
       Contrastive Learning of Visual Representations". ICML 2020, equation (1).
    """
    n = z.shape[0]
    if n % 2 or n < 4:
        raise ValueError(f"z must hold two views of at least 2 images (2m rows); got {n} rows.")
    m = n // 2
    z = nn.functional.normalize(z, dim=1)
    logits = (z @ z.T) / float(temperature)
    logits = logits.masked_fill(torch.eye(n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.arange(n, device=z.device).roll(m)
    return nn.functional.cross_entropy(logits, partner)


class _Features(nn.Module):
    """The pooled output of one layer of a model, differentiable (hook + early stop)."""

    def __init__(self, model: nn.Module, layer: str | None, pooling: str):
        super().__init__()
        self.model = model
        self.layer = layer
        self.pooling = pooling
        self._out = None
        self._handle = None
        if layer is not None:
            self._handle = _get_layer(model, layer).register_forward_hook(self._hook)

    def _hook(self, module, args, output):
        self._out = output
        raise _StopForward

    def forward(self, x):
        try:
            y = self.model(x)
            if self.layer is not None:
                raise RuntimeError(
                    f"layer {self.layer!r} did not run in the forward pass; choose a layer "
                    "that the model's forward() calls."
                )
        except _StopForward:
            y, self._out = self._out, None
        if isinstance(y, (tuple, list)):
            y = y[0]
        return _pool(y, self.pooling)

    def remove(self):
        if self._handle is not None:
            self._handle.remove()


def train_simclr(
    model: nn.Module,
    images,
    *,
    layer: str | None = None,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    temperature: float = 0.5,
    projection_dim: int = 64,
    augmentation: nn.Module | None = None,
    loss=None,
    pooling: str = "avg",
    device: str = "cpu",
    random_state: int | None = 0,
    progress: bool = True,
) -> list[float]:
    """Train ``model`` in place with SimCLR so that ``layer`` embeds ``images`` well.

    Each step draws two augmented views of a batch, embeds both with the pooled
    output of ``layer``, maps them through a projection head (Linear, ReLU, Linear to
    ``projection_dim``) and minimises the NT-Xent loss (normalised temperature-scaled
    cross entropy): each view must pick its partner among the ``2 * batch - 1`` other
    views by cosine similarity. The head is dropped after training.

    Parameters
    ----------
    model : torch.nn.Module
        The network to train, e.g. :class:`~sklearn_curate.embedding.ConvAutoencoder`
        (``layer='encoder'``) or any model taking ``(n, C, H, W)`` float batches.
        Trained in place and left in ``eval`` mode on ``device``.
    images : ndarray or DiskArray of shape (n_samples, C, H, W)
        Training images scaled to [0, 1] (a DiskArray is read batch by batch). One
        gray channel is repeated to the ``in_channels`` of the model's first
        ``Conv2d``, as the embedder does.
    layer : str or None, default=None
        Dotted name (as in ``model.named_modules()``) of the layer whose output is the
        embedding; None uses the model's output. The rest of the forward pass is
        skipped.
    epochs : int, default=10
        Passes over the data; 0 leaves the model untrained.
    batch_size : int, default=256
        Images per step (capped at ``n_samples``); each gives two views. Larger
        batches give the loss more negatives (SimCLR uses 4,096).
    lr : float, default=1e-3
        Adam learning rate.
    temperature : float, default=0.5
        NT-Xent temperature (SimCLR's 0.5 for small batches).
    projection_dim : int, default=64
        Output size of the projection head.
    augmentation : torch.nn.Module or None, default=None
        Maps a batch to a random view of the same shape; None uses
        :func:`simclr_augmentation` for the image size and channels (no flips).
    loss : callable or None, default=None
        ``loss(embeddings, labels)`` in pytorch-metric-learning's convention (the
        ``2m`` projected views and labels ``arange(m).repeat(2)``), e.g.
        ``pytorch_metric_learning.losses.NTXentLoss(temperature=0.5)`` or another of
        that library's pair losses; None uses :func:`nt_xent_loss` with
        ``temperature``, the same value computed faster.
    pooling : {"avg", "max", "flatten"}, default="avg"
        How a 4-D ``(n, C, H, W)`` layer output becomes a vector, as in
        :class:`~sklearn_curate.embedding.TorchLayerEmbedder`.
    device : {"cpu", "cuda"}, default="cpu"
        A resolved device (not "auto").
    random_state : int or None, default=0
        Seeds the batch order, the head's weights and the augmentations (through
        torch's global generator, which is restored afterwards). Seed torch before
        building the model to fix its initial weights too.
    progress : bool, default=True
        Show a tqdm bar over all steps with the epoch and the loss.

    Returns
    -------
    losses : list of float
        Mean NT-Xent loss of each epoch.

    Raises
    ------
    ImportError
        Without kornia (``pip install "sklearn-curate[ssl]"``) when ``augmentation``
        is None.
    ValueError
        If ``images`` is not 4-D, has fewer than 2 images, or ``layer`` is not a
        layer of ``model`` (the message lists the layers).
    RuntimeError
        If ``layer`` does not run in the model's forward pass.

    Notes
    -----
    Batches of one image are skipped: NT-Xent needs another image as a negative. A
    last batch smaller than half of ``batch_size`` is merged into the one before.

    References
    ----------
    .. [1] T. Chen, S. Kornblith, M. Norouzi, G. Hinton. "A Simple Framework for
       Contrastive Learning of Visual Representations". ICML 2020.
    .. [2] K. Musgrave, S. Belongie, S.-N. Lim. "PyTorch Metric Learning".
       arXiv:2008.09164, 2020 (``NTXentLoss``, the reference for :func:`nt_xent_loss`).
    """
    from tqdm.auto import tqdm

    from ..utils._disk_array import is_disk_array

    if is_disk_array(images):  # read batch by batch, never all at once
        X = images
    else:
        X = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if X.ndim != 4:
        raise ValueError(
            f"images must be (n_samples, C, H, W); got shape {tuple(X.shape)}. Add a "
            "channel axis to grayscale images: images[:, None]."
        )
    n, c, h, w = X.shape
    if n < 2:
        raise ValueError(f"SimCLR needs at least 2 images to contrast; got {n}.")
    want = _model_channels(model)
    repeat = c == 1 and want not in (None, 1)
    if repeat:
        c = want

    def take(rows) -> torch.Tensor:
        xb = torch.from_numpy(X[rows.numpy()]) if is_disk_array(X) else X[rows]
        return xb.expand(-1, c, -1, -1) if repeat else xb

    seed = 0 if random_state is None else int(random_state)
    gen = torch.Generator().manual_seed(seed)
    aug = augmentation if augmentation is not None else simclr_augmentation((h, w), c)
    feats = _Features(model, layer, pooling)
    model.to(device).train()
    bs = max(2, min(int(batch_size), n))
    starts = list(range(0, n, bs))
    if len(starts) > 1 and n - starts[-1] < bs // 2:
        starts.pop()  # merge a small last batch into the one before
    bounds = list(zip(starts, [*starts[1:], n], strict=True))
    if loss is None:
        tau = float(temperature)

        def loss(z, labels):
            return nt_xent_loss(z, tau)

    history = []
    cpu_state = torch.random.get_rng_state()
    cuda_state = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    torch.manual_seed(seed)
    bar = tqdm(
        total=epochs * len(bounds),
        desc="train simclr",
        unit="batch",
        disable=not progress,
        leave=False,
    )
    try:
        with torch.no_grad():
            d = feats(aug(take(torch.arange(2)).to(device))).shape[1]
        head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, projection_dim)).to(device)
        opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=lr)
        for epoch in range(epochs):
            order = torch.randperm(n, generator=gen)
            total, seen = 0.0, 0
            for lo, hi in bounds:
                xb = take(order[lo:hi]).to(device)
                m = xb.shape[0]
                if m < 2:
                    continue
                z = head(feats(torch.cat([aug(xb), aug(xb)])))
                labels = torch.arange(m, device=device).repeat(2)
                value_t = loss(z, labels)
                opt.zero_grad()
                value_t.backward()
                opt.step()
                value = value_t.item()
                total += value * m
                seen += m
                bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{value:.4f}", refresh=False)
                bar.update()
            history.append(total / max(seen, 1))
    finally:
        bar.close()
        feats.remove()
        torch.random.set_rng_state(cpu_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state_all(cuda_state)
    model.eval()
    if not all(math.isfinite(v) for v in history):
        raise RuntimeError(
            f"SimCLR's loss became {history[-1]} (not finite); lower lr={lr} or raise "
            f"temperature={temperature}."
        )
    return history
