"""Vision: a CNN classifies images.

Reads like the lab: data (load, inspect, per-channel statistics, split, scale) -> model (LeNet or the fast net)
-> train (the shared loop; augmentation on tensors) -> evaluate (accuracy, per-class metrics, confusion matrix,
flip test-time augmentation) -> predict (top-5 on image files).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import DataError, ParamError
from ...events import Evaluation, Event
from ...experiment import Context, Experiment, Task, shuffled_batches
from . import data as D
from .model import FastNet, build
from .spec import SPEC

EVAL_BATCH = 1000
GRID_IMAGES = 60  # test images shown with their predictions


def augment(x: torch.Tensor, flip: bool, translate: int, g: torch.Generator) -> torch.Tensor:
    """Random flips and shifts (reflect-padded) of a float batch, on tensors (no per-image Python)."""
    n = len(x)
    if flip:
        mask = torch.rand(n, generator=g) < 0.5
        x = torch.where(mask.view(-1, 1, 1, 1).to(x.device), x.flip(3), x)
    if translate:
        t, (h, w) = translate, x.shape[2:]
        padded = nn.functional.pad(x, (t, t, t, t), mode="reflect")
        dy = torch.randint(0, 2 * t + 1, (n,), generator=g).to(x.device)
        dx = torch.randint(0, 2 * t + 1, (n,), generator=g).to(x.device)
        rows = (dy.view(-1, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1)
        cols = (dx.view(-1, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w)
        x = padded[torch.arange(n, device=x.device).view(n, 1, 1, 1), torch.arange(x.shape[1], device=x.device)
                   .view(1, -1, 1, 1), rows, cols]
    return x


def triangle(progress: float, start: float = 0.2, peak: float = 0.23, end: float = 0.07) -> float:
    """The speed-run schedule: linear up to ``peak`` of training, then linear down."""
    if progress < peak:
        return start + (1 - start) * progress / peak
    return 1 + (end - 1) * (progress - peak) / (1 - peak)


class VisionTask(Task):
    def __init__(self, p: dict[str, Any], ctx: Context):
        self.p, self.ctx = p, ctx
        self.device = ctx.plan.device
        # -- data --------------------------------------------------------------------------
        self.data = D.load(p, ctx.data_dir, ctx.progress)
        d = self.data
        if len(d.x_train) == 0 or len(d.x_test) == 0:
            raise DataError(f"{d.name}: {len(d.x_train)} training and {len(d.x_test)} test images; need both")
        self.mean, self.std = d.channel_stats()
        self.x_train, self.y_train = d.x_train.to(self.device), d.y_train.to(self.device)
        self.x_test, self.y_test = d.x_test.to(self.device), d.y_test.to(self.device)
        self._mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1) * 255
        # -- model -------------------------------------------------------------------------
        self.model = build(p["model"], len(d.classes), p["width"], p["depth"])
        if isinstance(self.model, FastNet):
            g = torch.Generator().manual_seed(p["seed"])
            sample = torch.randperm(len(self.x_train), generator=g)[:5000].to(self.device)  # files come sorted by class
            self.model.init_whitening(self.scale(self.x_train[sample]))
        self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = self._optimizer()
        self.criterion = nn.CrossEntropyLoss(label_smoothing=p["label_smoothing"])
        self.clip, self.warmup = p["clip"], p["warmup"]

    def _optimizer(self) -> torch.optim.Optimizer:
        p, lr, wd = self.p, self.p["lr"], self.p["weight_decay"]
        params = [q for q in self.model.parameters() if q.requires_grad]
        if p["optimizer"] != "sgd":
            cls = torch.optim.AdamW if p["optimizer"] == "adamw" else torch.optim.Adam
            return cls(params, lr=lr, weight_decay=wd)
        if isinstance(self.model, FastNet):
            # airbench: batch-norm shifts learn 64x faster, with the same absolute decay per step
            norm = [q for m in self.model.modules() if isinstance(m, nn.BatchNorm2d) for q in m.parameters()
                    if q.requires_grad]
            ids = {id(q) for q in norm}
            rest = [q for q in params if id(q) not in ids]
            groups = [dict(params=rest, lr=lr, weight_decay=wd), dict(params=norm, lr=lr * 64, weight_decay=wd / 64)]
            return torch.optim.SGD(groups, lr=lr, momentum=p["momentum"], nesterov=p["momentum"] > 0)
        return torch.optim.SGD(params, lr=lr, momentum=p["momentum"], weight_decay=wd)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images -> normalised float, channels_last."""
        return ((x.float() - self._mean) / self._std).contiguous(memory_format=torch.channels_last)

    def summary(self) -> dict[str, Any]:
        d = self.data
        counts_train = torch.bincount(d.y_train, minlength=len(d.classes)).tolist()
        counts_test = torch.bincount(d.y_test, minlength=len(d.classes)).tolist()
        head = [[c, counts_train[i], counts_test[i]] for i, c in enumerate(d.classes)]
        stats = {ch: {"mean": round(m, 4), "std": round(s, 4)} for ch, m, s in zip("RGB", self.mean, self.std)}
        notes = [*d.notes, f"{len(d.classes)} classes, {d.size}x{d.size} RGB",
                 "scaled by the training images' per-channel mean and std"]
        return dict(columns=["class", "train", "test"], head=head, stats=stats,
                    missing={"unreadable images": d.skipped},
                    sizes={"train_images": len(d.y_train), "test_images": len(d.y_test), "classes": len(d.classes)},
                    notes=notes, images=D.samples_per_class(d))

    # -- train ---------------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return -(-len(self.x_train) // self.p["batch_size"])

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(self.p["seed"] * 100_003 + epoch + 50_000)  # augmentation: also resumable
        for idx in shuffled_batches(len(self.x_train), self.p["batch_size"], self.p["seed"], epoch, self.device):
            x = augment(self.scale(self.x_train[idx]), self.p["flip"], self.p["translate"], g)
            yield x.contiguous(memory_format=torch.channels_last), self.y_train[idx]

    def loss(self, batch) -> tuple[torch.Tensor, int]:
        x, y = batch
        return self.criterion(self.model(x).float(), y), len(y)

    def lr_multiplier(self, progress: float) -> float:
        if isinstance(self.model, FastNet):
            return triangle(progress)
        return super().lr_multiplier(progress)

    # -- evaluate ------------------------------------------------------------------------------
    def logits(self, x: torch.Tensor, tta: bool = False) -> torch.Tensor:
        out = []
        for i in range(0, len(x), EVAL_BATCH):
            xb = self.scale(x[i: i + EVAL_BATCH])
            logits = self.model(xb).float()
            if tta:  # average with the mirror image: the net saw both while training
                logits = 0.5 * (logits + self.model(xb.flip(3)).float())
            out.append(logits)
        return torch.cat(out)

    def _scores(self, logits: torch.Tensor) -> dict[str, float]:
        y = self.y_test
        out = {"test_loss": nn.functional.cross_entropy(logits, y).item(),
               "test_accuracy": (logits.argmax(1) == y).float().mean().item()}
        if logits.shape[1] > 10:
            top5 = logits.topk(5, dim=1).indices
            out["test_top5"] = (top5 == y.view(-1, 1)).any(1).float().mean().item()
        return out

    def evaluate(self) -> dict[str, float]:
        return self._scores(self.logits(self.x_test))

    def report(self, run_id: str) -> tuple[dict[str, float], list[Event]]:
        from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

        with torch.no_grad(), self.ctx.plan.autocast():
            logits = self.logits(self.x_test, tta=self.p["flip"])
        metrics = self._scores(logits)
        probs = logits.softmax(1)
        pred, true = logits.argmax(1).cpu().numpy(), self.y_test.cpu().numpy()
        labels = list(range(len(self.data.classes)))
        precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=labels, zero_division=0)
        confusion = confusion_matrix(true, pred, labels=labels)
        metrics["macro_f1"] = float(f1.mean())
        # A fixed, evenly spread grid of test images, so that reruns show the same ones.
        shown = np.linspace(0, len(true) - 1, min(GRID_IMAGES, len(true))).astype(int)
        grid = [{"true": int(true[i]), "pred": int(pred[i]), "confidence": round(float(probs[i, pred[i]]), 4),
                 "pixels": D.thumbnail(self.data.x_test[i])} for i in shown]
        tables = {"classes": self.data.classes, "confusion": confusion.tolist(),
                  "per_class": {"precision": precision.round(4).tolist(), "recall": recall.round(4).tolist(),
                                "f1": f1.round(4).tolist(), "support": support.tolist()},
                  "grid": grid, "tta": bool(self.p["flip"])}
        return metrics, [Evaluation(run_id, metrics, tables)]

    # -- checkpoint state ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"classes": self.data.classes, "mean": self.mean, "std": self.std, "size": self.data.size}


class Vision(Experiment):
    spec = SPEC

    def build(self, p: dict[str, Any], ctx: Context) -> Task:
        return VisionTask(p, ctx)

    def model_key(self, p: dict[str, Any]) -> str:
        return f"vision/{p['model']}/w{p['width']}x{p['depth']}/b{p['batch_size']}/s{p['image_size']}"


# -- predict ---------------------------------------------------------------------------------------
def predict(checkpoint: dict[str, Any], paths: list[str], k: int = 5) -> list[dict[str, Any]]:
    """Top-``k`` classes with probabilities for each image file, with a trained run's checkpoint."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not paths:
        raise ParamError("images: name one or more image files")
    p, extra = checkpoint["params"], checkpoint["extra"]
    classes, size = extra["classes"], extra["size"]
    model = build(p["model"], len(classes), p["width"], p["depth"])
    model.load_state_dict(checkpoint["model"])
    model.eval()
    mean = torch.tensor(extra["mean"]).view(1, 3, 1, 1) * 255
    std = torch.tensor(extra["std"]).view(1, 3, 1, 1) * 255
    images = []
    for path in paths:
        try:
            with Image.open(Path(path).expanduser()) as opened:
                im = ImageOps.fit(opened.convert("RGB"), (size, size), Image.Resampling.BILINEAR)
                images.append(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1))
        except FileNotFoundError:
            raise DataError(f"no image file {path}") from None
        except Image.DecompressionBombError:  # a small file that decodes to gigabytes
            raise DataError(f"{path} is too large to classify (over {Image.MAX_IMAGE_PIXELS:,} pixels)") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"{path} is not a readable image ({type(exc).__name__})") from None
    x = (torch.stack(images).float() - mean) / std
    with torch.no_grad():
        logits = model(x)
        if p["flip"]:
            logits = 0.5 * (logits + model(x.flip(3)))
        probs = logits.softmax(1)
    top = probs.topk(min(k, len(classes)), dim=1)
    return [{"image": path, "top": [{"class": classes[int(i)], "probability": round(float(v), 4)}
                                    for v, i in zip(top.values[j], top.indices[j])]}
            for j, path in enumerate(paths)]
