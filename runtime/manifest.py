"""The user data format: a folder with train/val/test manifests (JSONL or CSV).

Each row has `label` and any of `text`, `image` (path), `audio` (path); paths are relative to
the folder; any modality may be absent from a row or from the whole set. Validation reads
everything first and reports every bad row at once.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from edgefuse.runtime.errors import ManifestError

SPLITS = ("train", "val", "test")
_FIELDS = ("label", "text", "image", "audio")


@dataclass(frozen=True)
class Row:
    """One example; absent modalities are None."""

    label: str
    text: str | None = None
    image: Path | None = None
    audio: Path | None = None
    where: str = ""
    """File and line it came from, for messages."""

    def present(self) -> tuple[str, ...]:
        return tuple(m for m in ("image", "audio", "text") if getattr(self, m) is not None)


@dataclass(frozen=True)
class Dataset:
    """Validated rows per split, and the modalities the set uses."""

    root: Path
    splits: dict[str, list[Row]]
    labels: tuple[str, ...]
    modalities: tuple[str, ...]

    def __getitem__(self, split: str) -> list[Row]:
        if split not in self.splits:
            raise ManifestError(f"data set {self.root} has no {split!r} split; it has {sorted(self.splits)}")
        return self.splits[split]


def read_dataset(root: str | Path, splits: tuple[str, ...] = SPLITS) -> Dataset:
    """Read and validate the manifests of `splits`; raise one ManifestError listing every problem."""
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"data set folder not found: {root}; pass a folder holding train.jsonl, val.jsonl, test.jsonl")
    problems: list[str] = []
    rows = {split: _read_split(root, split, problems) for split in splits}
    train_labels = {r.label for r in rows.get("train", [])}
    for split, split_rows in rows.items():
        if split != "train" and train_labels:
            for r in split_rows:
                if r.label not in train_labels:
                    problems.append(f"{r.where}: label: {r.label!r} does not occur in train; fix the label or add training rows")
    if problems:
        head = f"{len(problems)} problem(s) in data set {root}:"
        raise ManifestError("\n  ".join([head, *problems[:200]]) + ("\n  ..." if len(problems) > 200 else ""))
    all_rows = [r for split_rows in rows.values() for r in split_rows]
    labels = tuple(sorted({r.label for r in all_rows}, key=_natural_key))
    modalities = tuple(m for m in ("image", "audio", "text") if any(getattr(r, m) is not None for r in all_rows))
    return Dataset(root=root, splits=rows, labels=labels, modalities=modalities)


def _read_split(root: Path, split: str, problems: list[str]) -> list[Row]:
    candidates = [root / f"{split}.jsonl", root / f"{split}.csv"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        problems.append(f"{split}: no {split}.jsonl or {split}.csv in {root}")
        return []
    records = _read_jsonl(path, problems) if path.suffix == ".jsonl" else _read_csv(path, problems)
    rows, seen = [], {}
    for where, record in records:
        row = _parse_row(root, where, record, problems)
        if row is None:
            continue
        key = (row.label, row.text, row.image, row.audio)
        if key in seen:
            problems.append(f"{where}: duplicate of {seen[key]}; remove one of them")
            continue
        seen[key] = where
        rows.append(row)
    if not rows and not any(p.startswith(path.name) for p in problems):
        problems.append(f"{path.name}: no rows; add at least one example")
    return rows


def _read_jsonl(path: Path, problems: list[str]) -> list[tuple[str, dict]]:
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{path.name}:{n}: not valid JSON ({e.msg}); write one JSON object per line")
                continue
            if not isinstance(record, dict):
                problems.append(f"{path.name}:{n}: a row must be a JSON object, got {type(record).__name__}")
                continue
            out.append((f"{path.name}:{n}", record))
    return out


def _read_csv(path: Path, problems: list[str]) -> list[tuple[str, dict]]:
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "label" not in reader.fieldnames:
            problems.append(f"{path.name}:1: header must name a 'label' column (and any of text, image, audio)")
            return []
        # Empty CSV cells mean "absent", like a missing key in JSONL.
        return [(f"{path.name}:{n}", {k: v for k, v in r.items() if k and v not in (None, "")}) for n, r in enumerate(reader, 2)]


def _parse_row(root: Path, where: str, record: dict, problems: list[str]) -> Row | None:
    before = len(problems)
    label = record.get("label")
    if isinstance(label, (int, float)) and not isinstance(label, bool):
        label = str(label)
    if not isinstance(label, str) or not label.strip():
        problems.append(f"{where}: label: missing or empty; every row needs a label")
    text = record.get("text")
    if text is not None and not isinstance(text, str):
        problems.append(f"{where}: text: must be a string, got {type(text).__name__}")
    paths = {m: _check_path(root, where, m, record.get(m), problems) for m in ("image", "audio")}
    if text is None and paths["image"] is None and paths["audio"] is None and len(problems) == before:
        problems.append(f"{where}: no text, image or audio; every row needs at least one modality")
    if len(problems) > before:
        return None
    return Row(label=label.strip(), text=text if text and text.strip() else None, where=where, **paths)


def _check_path(root: Path, where: str, field: str, value: object, problems: list[str]) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.append(f"{where}: {field}: must be a relative path string, got {value!r}")
        return None
    path = (root / value).resolve()
    if Path(value).is_absolute() or not path.is_relative_to(root.resolve()):
        problems.append(f"{where}: {field}: {value!r} leaves the data set folder; use a path relative to {root}")
    elif not path.is_file():
        problems.append(f"{where}: {field}: file not found {value!r}")
    else:
        return path
    return None


def _natural_key(label: str) -> tuple:
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)
