"""kill -9 during checkpoint saves (issue #19): dualpipe-run saves after
every step (--save-every=1) and is killed with SIGKILL at a random moment,
20 times. After each kill the checkpoint under its final name is complete
(a safetensors file whose header describes exactly its bytes) and has a
step number, a run resumes from it, and after that run no temporary file
is left beside it.

usage: checkpoint_crash.py STEP WORK
"""
import json
import os
import random
import signal
import struct
import subprocess
import sys
import time

step, work = (os.path.abspath(a) for a in sys.argv[1:3])
os.makedirs(work, exist_ok=True)
ck = os.path.join(work, "ck.safetensors")
random.seed(19)
failures, left_by_kill, kills = [], 0, 0


def complete(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    end = max(spec["data_offsets"][1] for spec in header.values())
    return len(data) == 8 + n + end and int(meta["step"]) >= 0


def temporaries():
    return [f for f in os.listdir(work) if f.startswith("ck.safetensors.tmp.")]


for round in range(20):
    p = subprocess.Popen(["dualpipe-run", step, "--no-progress", "--steps=100000",
                          "--save-every=1", "--save=" + ck],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Wait for the first checkpoint, then kill at a random moment.
    deadline = time.time() + 60
    while not os.path.exists(ck) and time.time() < deadline and p.poll() is None:
        time.sleep(0.01)
    time.sleep(random.uniform(0.0, 0.3))
    p.send_signal(signal.SIGKILL)
    p.wait()
    kills += p.returncode == -signal.SIGKILL
    left_by_kill += bool(temporaries())
    if not complete(ck):
        failures.append("round %d: the checkpoint is incomplete" % round)
        continue
    r = subprocess.run(["dualpipe-run", step, "--no-progress", "--steps=1",
                        "--resume=" + ck, "--save=" + ck],
                       capture_output=True, text=True)
    if r.returncode != 0:
        failures.append("round %d: resuming failed: %s" % (round, r.stderr.strip()))
    if temporaries():
        failures.append("round %d: %s survived the next run" % (round, temporaries()))

print("%d of 20 runs killed while saving after every step; %d left a temporary, "
      "removed by the next run" % (kills, left_by_kill))
print("%d failure(s): %s" % (len(failures), failures) if failures else
      "every checkpoint complete and loadable, no temporary survived")
sys.exit(1 if failures or kills != 20 else 0)
