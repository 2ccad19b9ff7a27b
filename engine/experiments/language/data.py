"""Language data: read a corpus (this Python's source, a text file, or a download), tokenize, split contiguously."""

from __future__ import annotations

import re
import sysconfig
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...download import reason, reporting
from ...errors import DataError, DownloadError

if TYPE_CHECKING:
    from ...download import Progress

UNK = "<unk>"
WORD = re.compile(r"\w+|[^\w\s]|\n")
DOWNLOADS = {
    "tinyshakespeare": ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
                        "input.txt", None),
    "wikitext2": ("https://wikitext.smerity.com/wikitext-2-raw-v1.zip", "wikitext-2-raw-v1.zip",
                  "wikitext-2-raw/wiki.train.raw"),
}


def read_text_file(path: str, limit: int | None = None) -> str:
    """UTF-8 text of ``path``; empty, binary or undecodable files are one clear message."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_file() and not p.is_dir():  # a FIFO would hang, /dev/zero never end
        raise DataError(f"{p} is not a regular file")
    try:
        with open(p, "rb") as f:
            raw = f.read(limit) if limit else f.read()
    except FileNotFoundError:
        raise DataError(f"no text file {p}") from None
    except IsADirectoryError:
        raise DataError(f"{p} is a folder; give a UTF-8 text file") from None
    except OSError as exc:
        raise DataError(f"cannot read {p}: {exc.strerror or exc}") from None
    if not raw.strip():
        raise DataError(f"{p} is empty")
    if b"\x00" in raw[:65536]:
        raise DataError(f"{p} is a binary file, not text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if limit and exc.start >= len(raw) - 3:  # a multi-byte character cut by the limit
            return raw[: exc.start].decode("utf-8")
        raise DataError(f"{p} is not UTF-8 text (byte {exc.start})") from None


def stdlib_text(limit: int) -> str:
    """The Python standard library's own source: a corpus that exists on every machine."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts, size = [], 0
    for path in sorted(root.glob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(text)
        size += len(text)
        if size >= limit:
            break
    if not parts:
        raise DataError(f"no Python source found in {root}")
    return "".join(parts)


def download_text(name: str, root: Path, progress: Callable[[str, float, float], None]) -> str:
    from torchvision.datasets.utils import download_and_extract_archive, download_url

    url, filename, member = DOWNLOADS[name]
    target = root / (member or filename)
    if not target.exists():
        try:
            with reporting(progress):
                if member:
                    download_and_extract_archive(url, str(root), filename=filename)
                else:
                    download_url(url, str(root), filename=filename)
        except (OSError, RuntimeError) as exc:
            raise DownloadError(f"cannot download {name} into {root} ({reason(exc)}); offline? use corpus=stdlib "
                            f"(needs no download) or corpus=file:PATH") from None
    return read_text_file(str(target))


def load_text(p: dict[str, Any], data_dir: Path, progress: Progress) -> tuple[str, str]:
    corpus = p["corpus"]
    if corpus == "stdlib":
        text, name = stdlib_text(p["max_chars"]), "Python standard library source"
    elif corpus in DOWNLOADS:
        text, name = download_text(corpus, data_dir / corpus, progress), corpus
    else:
        path = corpus[len("file:"):]
        text, name = read_text_file(path), Path(path).name
    return text[: p["max_chars"]], name


@dataclass
class Vocab:
    itos: list[str]
    mode: str  # char | word
    stoi: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    def tokenize(self, text: str) -> list[str]:
        return list(text) if self.mode == "char" else WORD.findall(text)

    def encode(self, text: str) -> list[int]:
        unk = self.stoi.get(UNK)
        out = []
        for tok in self.tokenize(text):
            i = self.stoi.get(tok, unk)
            if i is not None:
                out.append(i)
        return out

    def decode_one(self, i: int) -> str:
        tok = self.itos[i]
        if self.mode == "char" or tok == "\n":
            return tok
        return " " + tok


def build_vocab(tokens: list[str], mode: str, cap: int) -> tuple[Vocab, Counter[str]]:
    counts = Counter(tokens)
    if mode == "char":
        return Vocab(sorted(counts), mode), counts
    common = [t for t, _ in counts.most_common(cap - 1)]
    return Vocab([UNK, *sorted(common)], mode), counts


def split_point(n: int, split: float, bptt: int, batch_size: int = 1) -> int:
    """Where the training part ends; refused when either part, or one of the ``batch_size`` training streams,
    is shorter than a bptt segment."""
    cut = int(n * split)
    if cut < bptt + 1 or n - cut < bptt + 1:
        raise DataError(f"the corpus has {n} tokens: too few for split={split:g} with bptt={bptt} "
                        f"(each part needs more than {bptt})")
    if cut // batch_size < bptt + 1:
        raise DataError(f"the training part ({cut} tokens) is too short for batch_size={batch_size} streams of "
                        f"bptt={bptt} tokens; lower batch_size or bptt")
    return cut
