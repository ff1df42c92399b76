"""Opening a `.onnx` file with onnxruntime and reading the contract inside it.

A model file may come from anywhere, so it is checked before onnxruntime sees it:

- an optional SHA-256 pin is compared with the bytes that are then loaded (no re-read);
- the bytes must be a well-formed ONNX ModelProto with a graph (`_onnx_wire` reads them);
- every node, in subgraphs and model-local functions too, must use an allowed operator domain
  (`ALLOWED_DOMAINS`): custom domains mean custom-op libraries or code we did not ship;
- tensors stored as external data must name a relative path inside the model's folder that
  goes through no symbolic link; a pinned model may not use external data at all, because
  the pin covers one file.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path, PurePosixPath

import onnxruntime as ort

from edgefuse.runtime._onnx_wire import ModelSummary, WireError, read_model
from edgefuse.runtime.contract import CONTRACT_KEY, ModelContract
from edgefuse.runtime.errors import ContractError, ModelFileError

ALLOWED_DOMAINS = {
    "": "the ONNX standard operators",
    "ai.onnx": "the ONNX standard operators (explicit name)",
    "ai.onnx.ml": "the ONNX-ML standard operators",
    "com.microsoft": "onnxruntime's contrib operators, emitted by its own optimizer and quantizer",
}
"""Operator domains a model may use. Everything else (custom ops, `com.microsoft.nchwc`, training ops,
model-local function domains) is refused: onnxruntime either cannot run it or needs code we did not ship."""

MAX_MODEL_BYTES = 2**31 - 1
"""Protobuf messages are limited to 2 GiB; larger weights must live in external data files."""

_HEX_DIGEST = re.compile(r"^(?:sha256[:=])?([0-9a-fA-F]{64})$")


def open_session(
    path: str | os.PathLike,
    threads: int | None = None,
    providers: list[str] | None = None,
    sha256: str | None = None,
) -> ort.InferenceSession:
    """An onnxruntime session on the checked model at `path`.

    `threads` sets intra-op threads (None: onnxruntime's default); `sha256` (64 hex digits) pins the
    file's digest, checked on the very bytes that are loaded.
    """
    path = Path(path)
    data = read_model_bytes(path)
    if sha256 is not None:
        check_digest(data, sha256, path)
    summary = inspect_model(data, path)
    if summary.external_data and sha256 is not None:
        raise ModelFileError(
            f"model {path} stores weights in external data files, which a --sha256 pin does not cover; "
            "re-save it as one file or load it without the pin"
        )
    check_external_data(summary, path)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    available = ort.get_available_providers()
    chosen = [p for p in (providers or ["CPUExecutionProvider"]) if p in available] or ["CPUExecutionProvider"]
    # One-file models load from the checked bytes; external data is resolved next to the file.
    source = str(path) if summary.external_data else data
    try:
        # enable_fallback=0: onnxruntime's own retry prints a banner to stdout; callers choose fallbacks.
        return ort.InferenceSession(source, sess_options=options, providers=chosen, enable_fallback=0)
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"cannot load model {path}: {first[:300]}; is it a complete ONNX file?") from None


def read_model_bytes(path: Path) -> bytes:
    """The whole file, after checking that it exists and fits a protobuf message."""
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}; check the path")
    size = path.stat().st_size
    if size == 0:
        raise ModelFileError(f"model file {path} is empty (0 bytes); export or download it again")
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(f"model file {path} is {size:,} bytes, over the 2 GiB protobuf limit; store weights as external data")
    try:
        return path.read_bytes()
    except OSError as e:
        raise ModelFileError(f"cannot read model file {path} ({e.strerror}); check its permissions") from None


def check_digest(data: bytes, expected: str, path: Path) -> None:
    """Raise unless sha256(data) equals `expected` (64 hex digits, optionally prefixed `sha256:`)."""
    match = _HEX_DIGEST.match(expected.strip())
    if not match:
        raise ModelFileError(f"--sha256 value {expected!r} is not a SHA-256 digest; pass 64 hexadecimal digits")
    actual = hashlib.sha256(data).hexdigest()
    if actual != match.group(1).lower():
        raise ModelFileError(
            f"model {path} has SHA-256 {actual}, not the pinned {match.group(1).lower()}; the file was changed or replaced"
        )


def inspect_model(data: bytes, path: Path) -> ModelSummary:
    """Parse the ModelProto fields the checks need and refuse disallowed operator domains."""
    try:
        summary = read_model(data)
    except WireError as e:
        raise ModelFileError(f"{path} is not a valid ONNX file ({e}); it may be truncated or corrupted") from None
    if not summary.has_graph or summary.ir_version == 0:
        raise ModelFileError(f"{path} is not an ONNX model (no graph or IR version); pass a .onnx file made by edgefuse")
    foreign = sorted({(d, op) for d, op in summary.operators if d not in ALLOWED_DOMAINS})
    if foreign:
        shown = ", ".join(f"{op} ({d})" for d, op in foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise ModelFileError(
            f"model {path} uses operators outside the allowed domains: {shown}; "
            f"export it with standard ONNX operators (allowed domains: {', '.join(repr(d) for d in ALLOWED_DOMAINS)})"
        )
    return summary


def check_external_data(summary: ModelSummary, path: Path) -> None:
    """Refuse external data that leaves the model's folder, goes through a symlink or is missing."""
    folder = path.parent
    for location in dict.fromkeys(summary.external_data):
        relative = PurePosixPath(location.replace("\\", "/"))
        if not location or relative.is_absolute() or ".." in relative.parts or location.startswith("~"):
            raise ModelFileError(
                f"model {path} names external data {location!r} outside its folder; "
                "external data files must sit beside the model under a relative path"
            )
        current = folder
        for part in relative.parts:
            current = current / part
            try:
                mode = os.lstat(current).st_mode
            except OSError:
                raise ModelFileError(f"model {path} needs external data file {location!r}, which is missing; copy it beside the model") from None
            if stat.S_ISLNK(mode):
                raise ModelFileError(
                    f"model {path} reaches external data {location!r} through a symbolic link; copy the real file beside the model"
                )
        if not stat.S_ISREG(mode):
            raise ModelFileError(f"model {path} names external data {location!r}, which is not a regular file")


def read_contract(session: ort.InferenceSession, path: str | os.PathLike = "") -> ModelContract:
    """The contract stored in the session's model metadata."""
    props = session.get_modelmeta().custom_metadata_map
    if CONTRACT_KEY not in props:
        raise ContractError(
            f"{path or 'model'} has no edgefuse contract (metadata key {CONTRACT_KEY!r}); "
            "export it with `edgefuse export` so it carries its labels and preprocessing"
        )
    return ModelContract.from_json(props[CONTRACT_KEY])


def load_contract(path: str | os.PathLike, sha256: str | None = None) -> ModelContract:
    """Read only the contract of the model at `path` (after the same checks as loading it)."""
    return read_contract(open_session(path, threads=1, sha256=sha256), path)
