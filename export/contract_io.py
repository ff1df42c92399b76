"""Writing the contract into an ONNX model's `metadata_props` (reading is the runtime's job)."""

from __future__ import annotations

import onnx

from edgefuse.runtime.contract import CONTRACT_KEY, ModelContract


def embed_contract(proto: onnx.ModelProto, contract: ModelContract) -> None:
    """Store `contract` under CONTRACT_KEY, replacing any earlier one."""
    kept = [p for p in proto.metadata_props if p.key != CONTRACT_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    proto.metadata_props.add(key=CONTRACT_KEY, value=contract.to_json())


def read_embedded_contract(proto: onnx.ModelProto) -> ModelContract:
    for p in proto.metadata_props:
        if p.key == CONTRACT_KEY:
            return ModelContract.from_json(p.value)
    raise KeyError(CONTRACT_KEY)
