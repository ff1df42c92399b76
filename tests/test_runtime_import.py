import subprocess
import sys


def test_runtime_import_loads_no_torch_or_onnx():
    code = (
        "import sys, edgefuse.runtime, edgefuse.runtime.evaluate, edgefuse.runtime.preprocess;"
        "from edgefuse.cli import build_parser; build_parser();"
        "print(sorted(m for m in ('torch', 'onnx', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
