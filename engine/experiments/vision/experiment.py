"""Vision: a CNN classifies images.

Reads like the lab: data (load, inspect, per-channel statistics, split, scale) -> model (LeNet or the fast net)
-> train (the shared loop; augmentation on tensors) -> evaluate (accuracy, per-class metrics, confusion matrix,
flip and shift test-time augmentation) -> predict (top-5 on image files).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...averaging import Lookahead
from ...errors import DataError, ParamError
from ...events import Evaluation, Event
from ...experiment import Context, Experiment, Task, batch_count, shuffled_batches
from ...status import Stage
from . import data as D
from . import recipe
from .model import FastNet, build
from .spec import SPEC

EVAL_BATCH = 1000
GRID_IMAGES = 60  # test images shown with their predictions


def augment(x: torch.Tensor, flips: torch.Tensor | None, shifts: torch.Tensor | None, translate: int
            ) -> torch.Tensor:
    """Flips (where ``flips`` is true) and shifts (``shifts``: 2,N offsets in 0..2*translate of a reflect-padded
    copy) of a float batch, on tensors: no per-image Python, and nothing copied from the host per batch (a copy from
    pageable memory waits for the GPU, which would stall it once a step)."""
    n = len(x)
    if flips is not None:
        x = torch.where(flips.view(-1, 1, 1, 1), x.flip(3), x)
    if shifts is not None and translate:
        t, (h, w) = translate, x.shape[2:]
        padded = nn.functional.pad(x, (t, t, t, t), mode="reflect")
        rows = (shifts[0].view(-1, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1)
        cols = (shifts[1].view(-1, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w)
        x = padded[torch.arange(n, device=x.device).view(n, 1, 1, 1), torch.arange(x.shape[1], device=x.device)
                   .view(1, -1, 1, 1), rows, cols]
    return x


def triangle(progress: float, start: float = 0.2, peak: float = 0.23, end: float = 0.07) -> float:
    """The speed-run schedule: linear up to ``peak`` of training, then linear down."""
    if progress < peak:
        return start + (1 - start) * progress / peak
    return 1 + (end - 1) * (progress - peak) / (1 - peak)


def tta_logits(model: nn.Module, x: torch.Tensor, tta: str) -> torch.Tensor:
    """Logits of a scaled batch; with test-time augmentation, the mean over the views the net was trained on:
    the mirror image ("flip"), and also both images shifted by one pixel up-left and down-right ("flip+shift")."""
    def mirrored(v: torch.Tensor) -> torch.Tensor:
        return 0.5 * (model(v).float() + model(v.flip(3)).float())

    if tta == "none":
        return model(x).float()
    logits = mirrored(x)
    if tta == "flip":
        return logits
    h, w = x.shape[2:]
    padded = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    shifted = 0.5 * (mirrored(padded[:, :, :h, :w]) + mirrored(padded[:, :, 2:, 2:]))
    return 0.5 * (logits + shifted)


class VisionTask(Task):
    def __init__(self, p: dict[str, Any], ctx: Context):
        self.p, self.ctx = p, ctx
        self.device = ctx.plan.device
        # the final report's forward passes per image (its test-time augmentation's views), and its tables
        self.final_cost = {"none": 1.0, "flip": 2.0}.get(p["tta"], 6.0) + 0.3
        # -- data --------------------------------------------------------------------------
        self.data = D.load(p, ctx.data_dir, ctx.progress)
        d = self.data
        if len(d.x_train) < 2 or len(d.x_test) == 0:  # batch normalization trains on two images at the least
            raise DataError(f"{d.name}: {len(d.x_train)} training and {len(d.x_test)} test images; need at least 2 "
                            "for training and 1 for testing")
        self.mean, self.std = d.channel_stats()
        self.x_train, self.y_train = d.x_train.to(self.device), d.y_train.to(self.device)
        self.x_test, self.y_test = d.x_test.to(self.device), d.y_test.to(self.device)
        self._eval_order: torch.Tensor | None = None  # drawn on first use: a subset evaluated each epoch
        self._mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1) * 255
        # -- model -------------------------------------------------------------------------
        recipe.pick(p, self.device, ctx.budget, len(self.y_train), ctx.run_dir, self._speed, ctx.log)
        self.model = build(p["model"], len(d.classes), p["width"], p["depth"])
        if isinstance(self.model, FastNet):
            g = torch.Generator().manual_seed(p["seed"])
            sample = torch.randperm(len(self.x_train), generator=g)[:5000].to(self.device)  # files come sorted by class
            self.model.init_whitening(self.scale(self.x_train[sample]))
        self.model = self.model.to(memory_format=torch.channels_last)
        if self.device.type == "cuda":  # fixed shapes: let cuDNN time its algorithms once, as airbench does
            torch.backends.cudnn.benchmark = True
        # airbench's alternating flips: a fixed random half of the images is mirrored in odd epochs, the other half
        # in even ones, so that every image is seen both ways every two epochs (more diverse than coin flips)
        g = torch.Generator().manual_seed(p["seed"] + 1)
        self.flips = (torch.rand(len(self.x_train), generator=g) < 0.5).to(self.device) if p["flip"] else None
        fast = isinstance(self.model, FastNet)
        self.lookahead = Lookahead(self.model) if fast and p["lookahead"] else None
        self.optimizer = self._optimizer()
        self.criterion = nn.CrossEntropyLoss(label_smoothing=p["label_smoothing"])
        self.clip, self.warmup = p["clip"], p["warmup"]

    def _speed(self, width: int, batch_size: int) -> float:
        """Training images per second of the fast net at ``width`` on this device, in the precision a run picks."""
        from ...device import choose_precision, time_steps

        p = {**self.p, "width": width, "batch_size": batch_size}
        model = FastNet(len(self.data.classes), width, p["depth"]).to(self.device).to(memory_format=torch.channels_last)
        size = self.data.size
        x = torch.randn(batch_size, 3, size, size, device=self.device).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, len(self.data.classes), (batch_size,), device=self.device)

        def step() -> torch.Tensor:
            return nn.functional.cross_entropy(model(x).float(), y)

        plan = choose_precision(self.device, p["precision"], Vision().model_key(p),
                                probe=lambda precision: time_steps(model, step, self.device, precision))
        return batch_size / (plan.step_seconds or time_steps(model, step, self.device, plan.precision))

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
        return batch_count(len(self.x_train), self.p["batch_size"])

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(self.p["seed"] * 100_003 + epoch + 50_000)  # augmentation: also resumable
        t = self.p["translate"]
        # each image's shift this epoch, drawn for the whole epoch at once: one host-to-device copy an epoch
        shifts = torch.randint(0, 2 * t + 1, (2, len(self.x_train)), generator=g).to(self.device) if t else None
        for idx in shuffled_batches(len(self.x_train), self.p["batch_size"], self.p["seed"], epoch, self.device):
            flips = None if self.flips is None else self.flips[idx] ^ bool(epoch % 2)
            x = augment(self.scale(self.x_train[idx]), flips, None if shifts is None else shifts[:, idx], t)
            yield x.contiguous(memory_format=torch.channels_last), self.y_train[idx]

    def loss(self, batch: Any) -> tuple[torch.Tensor, int]:
        x, y = batch
        return self.criterion(self.model(x).float(), y), len(y)

    def lr_multiplier(self, progress: float) -> float:
        if isinstance(self.model, FastNet):
            return triangle(progress)
        return super().lr_multiplier(progress)

    def after_step(self, step: int, progress: float) -> None:
        if self.lookahead is not None:
            self.lookahead.step(self.model, step, progress)

    def end_training(self) -> None:
        if self.lookahead is not None:
            self.lookahead.finish(self.model)

    # -- evaluate ------------------------------------------------------------------------------
    def eval_size(self) -> int:
        return len(self.x_test)

    def logits(self, x: torch.Tensor, tta: str = "none", stage: str | None = None) -> torch.Tensor:
        out = []
        for i in range(0, len(x), EVAL_BATCH):
            out.append(tta_logits(self.model, self.scale(x[i: i + EVAL_BATCH]), tta))
            if stage:
                self.ctx.progress(stage, min(i + EVAL_BATCH, len(x)), len(x))
        return torch.cat(out)

    def _subset(self, limit: int | None) -> torch.Tensor | None:
        """A fixed random part of the test set (a folder's files come sorted by class: a prefix would not do)."""
        if limit is None or limit >= len(self.x_test):
            return None
        if self._eval_order is None:
            g = torch.Generator().manual_seed(self.p["seed"] + 77)
            self._eval_order = torch.randperm(len(self.x_test), generator=g).to(self.device)
        return self._eval_order[:max(1, limit)]

    def _scores(self, logits: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, float]:
        y = self.y_test if y is None else y
        out = {"test_loss": nn.functional.cross_entropy(logits, y).item(),
               "test_accuracy": (logits.argmax(1) == y).float().mean().item()}
        if logits.shape[1] > 10:
            top5 = logits.topk(5, dim=1).indices
            out["test_top5"] = (top5 == y.view(-1, 1)).any(1).float().mean().item()
        return out

    def evaluate(self, limit: int | None = None, stage: str = Stage.EVALUATING) -> dict[str, float]:
        idx = self._subset(limit)
        if idx is None:
            return self._scores(self.logits(self.x_test, stage=stage))
        return self._scores(self.logits(self.x_test[idx], stage=stage), self.y_test[idx])

    def report(self, run_id: str) -> tuple[dict[str, float], list[Event]]:
        from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

        with torch.no_grad(), self.ctx.plan.autocast():
            logits = self.logits(self.x_test, tta=self.p["tta"], stage=Stage.FINAL_EVALUATION)
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
                  "grid": grid, "tta": self.p["tta"]}
        return metrics, [Evaluation(run_id, metrics, tables)]

    # -- checkpoint state ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        out = {"classes": self.data.classes, "mean": self.mean, "std": self.std, "size": self.data.size}
        if self.lookahead is not None:
            out["lookahead"] = self.lookahead.state()
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        if self.lookahead is not None and "lookahead" in state:
            self.lookahead.load(state["lookahead"])


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
        probs = tta_logits(model, x, p.get("tta", "flip" if p["flip"] else "none")).softmax(1)
    top = probs.topk(min(k, len(classes)), dim=1)
    return [{"image": path, "top": [{"class": classes[int(i)], "probability": round(float(v), 4)}
                                    for v, i in zip(top.values[j], top.indices[j])]}
            for j, path in enumerate(paths)]
