"""Opening a `.onnx` file with onnxruntime and reading the contract inside it."""

from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort

from edgefuse.runtime.contract import CONTRACT_KEY, ModelContract
from edgefuse.runtime.errors import ContractError, ModelFileError


def open_session(
    path: str | os.PathLike, threads: int | None = None, providers: list[str] | None = None
) -> ort.InferenceSession:
    """An onnxruntime session on `path`; `threads` sets intra-op threads (None: onnxruntime's default)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}; check the path")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    available = ort.get_available_providers()
    chosen = [p for p in (providers or ["CPUExecutionProvider"]) if p in available] or ["CPUExecutionProvider"]
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"cannot load model {path}: {first[:300]}; is it a complete ONNX file?") from None


def read_contract(session: ort.InferenceSession, path: str | os.PathLike = "") -> ModelContract:
    """The contract stored in the session's model metadata."""
    props = session.get_modelmeta().custom_metadata_map
    if CONTRACT_KEY not in props:
        raise ContractError(
            f"{path or 'model'} has no edgefuse contract (metadata key {CONTRACT_KEY!r}); "
            "export it with `edgefuse export` so it carries its labels and preprocessing"
        )
    return ModelContract.from_json(props[CONTRACT_KEY])


def load_contract(path: str | os.PathLike) -> ModelContract:
    """Read only the contract of the model at `path`."""
    return read_contract(open_session(path, threads=1), path)
