"""Embedding: features from a layer of a torch model, image reading, the default models."""

from ..utils._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "TorchLayerEmbedder": "_embedder",
        "embed_on_dask": "_dask",
        "load_image": "_images",
        "load_images": "_images",
        "resize_images": "_images",
        "ConvAutoencoder": "models",
        "train_autoencoder": "models",
        "nt_xent_loss": "_simclr",
        "simclr_augmentation": "_simclr",
        "train_simclr": "_simclr",
    },
)
