# -*- Python -*-
import os
import sys

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "DUALPIPE"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
# test/data holds inputs (its model.mlir is not a test).
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py", "lit.site.cfg.py", "unit", "Inputs", "data"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.dualpipe_obj_root, "test")

config.substitutions.append(("%python", sys.executable))
config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%shlibext", config.llvm_shlib_ext))
config.substitutions.append(("%dualpipe_src", config.dualpipe_src_root))
config.substitutions.append(("%testdata", config.dualpipe_testdata_dir))
config.substitutions.append(("%dualpipe_bin", config.dualpipe_tools_dir))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.dualpipe_tools_dir, append_path=True)

tools = ["dualpipe-opt", "dualpipe-sched", "dualpipe-compile", "dualpipe-run", "dualpipe-gradcheck"]
llvm_config.add_tool_substitutions(tools, [config.dualpipe_tools_dir, config.llvm_tools_dir])

# GPU tests say `REQUIRES: cuda`; they run only where a device answers.
if os.path.exists("/dev/nvidia0") or os.path.exists("/dev/nvidiactl"):
    config.available_features.add("cuda")

# The cuda target builds (ptxas, cudart, cuBLAS, NCCL) without a GPU: tests
# that build CUDA artifacts say `REQUIRES: cuda-toolkit`.
config.dualpipe_lib_dir = os.path.join(config.dualpipe_obj_root, "lib")
config.substitutions.append(("%dualpipe_lib", config.dualpipe_lib_dir))
if os.path.exists("/usr/local/cuda/bin/ptxas") and os.path.exists(
    os.path.join(config.dualpipe_lib_dir, "libdualpipe_runtime_cuda.so")
):
    config.available_features.add("cuda-toolkit")

# dualpipe-import is built only where libonnx was found (tools/dualpipe-import):
# its tests say `REQUIRES: dualpipe-import`.
if os.path.exists(os.path.join(config.dualpipe_tools_dir, "dualpipe-import")):
    config.available_features.add("dualpipe-import")

# Tests that run dualpipe-run under mpirun say `REQUIRES: mpi`: mpirun is on
# the PATH and the runtime was built with the mpi backend (dualpipe-run
# refuses --backend=mpi with "was not built" otherwise).
import shutil
import subprocess

_run = os.path.join(config.dualpipe_tools_dir, "dualpipe-run")
if shutil.which("mpirun") and os.path.exists(_run):
    _probe = subprocess.run([_run, os.devnull, "--backend=mpi"],
                            capture_output=True, text=True)
    if "was not built" not in _probe.stderr:
        config.available_features.add("mpi")

# Tests that run PyTorch (test/data/mlp-residual/regenerate.py) say
# `REQUIRES: torch`: the first of lit's own Python and Debian's
# /usr/bin/python3 that imports torch runs them as %torch_python. Nothing
# else in the suite needs torch.
_torch_python = None
for _candidate in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
    if not os.path.exists(_candidate):
        continue
    try:
        _probe = subprocess.run([_candidate, "-c", "import torch"],
                                capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        continue
    if _probe.returncode == 0:
        _torch_python = _candidate
        break
if _torch_python:
    config.available_features.add("torch")
    config.substitutions.append(("%torch_python", _torch_python))
else:
    lit_config.note("PyTorch not found (import torch failed in %s): "
                    "tests that need it are UNSUPPORTED; on Debian, "
                    "apt-get install python3-torch python3-numpy"
                    % " and ".join(dict.fromkeys([sys.executable, "/usr/bin/python3"])))

# ONNX's backend node tests (onnx-node-tests.test) say `REQUIRES:
# onnx-testdata`: Debian's libonnx-testdata is installed and a Python (lit's
# own or /usr/bin/python3) imports onnx and numpy; it runs them as
# %onnx_python.
_onnx_python = None
if os.path.isdir("/usr/share/libonnx-testdata/data/node"):
    for _candidate in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if not os.path.exists(_candidate):
            continue
        try:
            _probe = subprocess.run([_candidate, "-c", "import onnx, numpy"],
                                    capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if _probe.returncode == 0:
            _onnx_python = _candidate
            break
if _onnx_python:
    config.available_features.add("onnx-testdata")
    config.substitutions.append(("%onnx_python", _onnx_python))

# Tests that JIT-run lowered code say `REQUIRES: mlir-runner`: LLVM's
# mlir-runner and its C runner utilities (printI64, ...) are installed.
_runner_utils = os.path.join(os.path.dirname(config.llvm_tools_dir), "lib",
                             "libmlir_c_runner_utils" + config.llvm_shlib_ext)
if os.path.exists(os.path.join(config.llvm_tools_dir, "mlir-runner")) and \
        os.path.exists(_runner_utils):
    config.available_features.add("mlir-runner")
    config.substitutions.append(("%mlir_c_runner_utils", _runner_utils))
