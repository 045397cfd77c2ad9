"""
Embed images with a layer of your own model
===========================================

:class:`~sklearn_curate.TorchLayerEmbedder` turns any ``torch.nn.Module`` into a
scikit-learn transformer: images in, the output of one named layer out, pooled to
``(n_samples, n_features)``. The forward pass stops at that layer.

Here a small convolutional network is trained for a few epochs on half of the
digits, and the features of each of its layers are compared by how well a linear
model separates the other half's classes with them.
"""

# %%
# A small CNN, trained briefly
# ----------------------------
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from sklearn_curate import GPUReducer, TorchLayerEmbedder

torch.manual_seed(0)
digits = load_digits()
images = (digits.images / 16.0).astype(np.float32)  # (n, 8, 8) in [0, 1]
img_train, img_rest, y_train, y_rest = train_test_split(
    images, digits.target, train_size=0.5, random_state=0, stratify=digits.target
)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU())
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc(self.head(x))


model = SmallCNN()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
X_t = torch.from_numpy(img_train[:, None])  # (n, 1, 8, 8)
y_t = torch.from_numpy(y_train)
for epoch in range(5):
    for batch in torch.randperm(len(X_t)).split(64):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(X_t[batch]), y_t[batch])
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch + 1}: last batch loss {loss.item():.3f}")

# %%
# Features from a named layer
# ---------------------------
# ``layer`` is a dotted name from ``model.named_modules()``. Spatial maps are pooled
# (``pooling="avg"``, ``"max"`` or ``"flatten"``); the model is deep-copied, so the
# one passed in is left untouched. ``(n, 8, 8)`` arrays are taken as one-channel
# images.
embedder = TorchLayerEmbedder(model, layer="conv2", pooling="avg", device="cpu")
features = embedder.fit_transform(img_rest)
print(features.shape, features.dtype, embedder.device_, embedder.backend_)
print(embedder.get_feature_names_out()[:4])

# %%
# An unknown layer name lists the model's layers:
try:
    TorchLayerEmbedder(model, layer="conv3", device="cpu").fit(img_rest[:2])
except ValueError as exc:
    print(exc)

# %%
# Which layer separates the classes best?
# ---------------------------------------
# ``layer`` is an ordinary parameter, so a Pipeline (and GridSearchCV) can search
# it. The digits the network was trained on are left out of this comparison.
for layer in ["conv1", "conv2", "head", "fc"]:
    embed = TorchLayerEmbedder(model, layer=layer, device="cpu")
    pipe = make_pipeline(embed, StandardScaler(), LogisticRegression(max_iter=1000))
    accuracy = cross_val_score(pipe, img_rest, y_rest, cv=3).mean()
    n_features = embed.fit(img_rest[:1]).n_features_out_
    print(f"{layer:>6}: {n_features:3d} features, 3-fold accuracy {accuracy:.3f}")

# %%
# Reduce before curating
# ----------------------
# Distance-based curators work better on a few informative dimensions than on
# hundreds: :class:`~sklearn_curate.GPUReducer` runs PCA or UMAP (on the GPU with
# cuML or torch when there is one, else scikit-learn / umap-learn).
flat = TorchLayerEmbedder(model, layer="head", device="cpu").fit_transform(img_rest)
reduced = GPUReducer("pca", n_components=16, random_state=0).fit_transform(flat)
print(flat.shape, "->", reduced.shape)
