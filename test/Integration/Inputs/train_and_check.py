"""Compiles and runs one training step of the mlp-residual model for each
schedule:ranks given, checks --check's verdict and compares the loss and the
dumped gradients with PyTorch's reference (check_vs_pytorch.py).

usage: train_and_check.py REF_DIR WORK_DIR SCHEDULE:N ..."""
import os
import subprocess
import sys

ref_dir, work = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
failed = 0
for cfg in sys.argv[3:]:
    schedule, ranks = cfg.split(":")
    out = os.path.join(work, "%s-%s" % (schedule, ranks))
    subprocess.run(["dualpipe-compile", ref_dir + "/model.mlir", "--schedule=" + schedule,
                    "--ranks=" + ranks, "--microbatches=8", "-o", out],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = os.path.join(out, "run.log")
    with open(log, "w") as f:
        run = subprocess.run(["dualpipe-run", out, "--params=" + ref_dir + "/params.safetensors",
                              "--data=" + ref_dir + "/data.safetensors", "--check",
                              "--dump-grads=" + out + "/grads.safetensors"], stdout=f)
    text = open(log).read()
    verdict = "PASS" if run.returncode == 0 and "tolerance 1e-5: PASS" in text else "FAIL"
    cmp = subprocess.run([sys.executable, os.path.join(here, "check_vs_pytorch.py"), ref_dir,
                          out + "/grads.safetensors", log], capture_output=True, text=True)
    lines = cmp.stdout.strip().splitlines()
    print("%s N=%s: check %s; vs PyTorch: %s %s" % (schedule, ranks, verdict,
          lines[0] if lines else "?", "PASS" if cmp.returncode == 0 else "FAIL"))
    failed += verdict != "PASS" or cmp.returncode != 0
print("all %d configurations agree with PyTorch" % (len(sys.argv) - 3) if not failed
      else "%d configurations FAILED" % failed)
sys.exit(1 if failed else 0)
