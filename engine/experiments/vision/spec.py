"""Vision experiment spec: hyperparameters and input checks (no torch here)."""

from __future__ import annotations

from typing import Any

from ...errors import ParamError
from ...params import Param, ParamSpec
from ...spec import Spec, common_params

BUILTIN = ("cifar10", "cifar100", "shapes")
MODELS = ("fast", "lenet")
TTA = ("none", "flip", "flip+shift")


def check_dataset(value: str) -> None:
    if value in BUILTIN:
        return
    if not value.startswith("folder:") or len(value) <= len("folder:"):
        raise ParamError("must be cifar10, cifar100, shapes (needs no download) or folder:PATH")


def check(p: dict[str, Any]) -> None:
    if p["dataset"].startswith("folder:"):
        from .folder import scan  # the layout is checked before a run is created; images are decoded in the run

        scan(p["dataset"][len("folder:"):])


SPEC = Spec(
    name="vision",
    title="Vision",
    summary="a CNN classifies images: CIFAR-10/100, a folder of your images, or generated shapes",
    params=ParamSpec([
        Param("dataset", "str", "cifar10",
              "cifar10, cifar100 (downloaded once), shapes (generated, no download) or folder:PATH "
              "(PATH/train/<class>/, PATH/test/<class>/ or PATH/<class>/ split 70/30)", check=check_dataset),
        Param("image_size", "int", 32, "images are resized to this square size (folders only)", low=16, high=256),
        Param("shapes_count", "int", 6000, "images generated for dataset=shapes", low=100, high=200_000),
        Param("split", "float", 0.7, "train fraction where a dataset has no official split (stratified)",
              low=0.1, high=0.95),
        Param("model", "str", "fast", "fast: a speed-run style net (whitening, batch norm); lenet: the tutorial's "
              "conv 6/16, FC 120-84", choices=MODELS),
        Param("width", "int", 0, "fast: channels of the first block (the next two have 4x); 0 picks it from the "
              "budget and the device's speed (16 on a CPU without a budget, airbench's 64 on a GPU)", low=0, high=1024),
        Param("depth", "int", 2, "fast: convolutions per block", low=1, high=4),
        Param("label_smoothing", "float", 0.2, "label smoothing of the cross-entropy", low=0.0, high=0.9),
        Param("flip", "bool", True, "horizontal flips while training: each image mirrored every other epoch"),
        Param("translate", "int", 2, "random shifts of up to this many pixels while training", low=0, high=16),
        Param("tta", "str", "flip+shift", "test-time augmentation of the final evaluation: none, flip (mean with the "
              "mirror image) or flip+shift (also one-pixel shifts)", choices=TTA),
        Param("lookahead", "bool", True, "fast: average the weights every 5 steps, more so towards the end"),
        Param("momentum", "float", 0.85, "SGD momentum", low=0.0, high=0.999),
        # airbench's lr and decay rescaled to a mean loss at batch 256: scale lr with batch_size
        *common_params(lr=0.375, batch_size=256, epochs=10, optimizer="sgd", clip=0.0, weight_decay=0.0013),
    ]),
    target="test_accuracy",
    target_mode="max",
    trainer="labdeck.engine.experiments.vision.experiment:Vision",
    check=check,
    key_params=("dataset", "model", "width", "batch_size", "lr", "epochs"),
    unit="img",
    offline=("dataset", "shapes"),
    new_input="image",
    classifies=True,
)
