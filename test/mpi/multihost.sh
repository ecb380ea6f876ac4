#!/usr/bin/env bash
# dualpipe-run --backend=mpi across emulated hosts: two network namespaces,
# each a host with its own address (10.213.0.1, .2) on one bridge, MPI over
# TCP only (no shared memory between ranks), daemons started in the
# namespaces by an rsh agent (scripts/netns-lib.sh). DualPipe on 4 ranks,
# 2 per host (the step of the mpi.run.compile fixture: test/data/mlp-residual,
# M=8): its step losses and check line equal the same step on 4 threads, its
# --check passes, the ranks ran on both hosts and the bytes crossed the
# hosts' links; then the same with each link rate-limited (tbf 100mbit).
#
#   multihost.sh BINDIR TESTDATA WORKDIR SRCDIR
#
# Exit 77 with "SKIP: ..." where namespaces cannot be made (not root, no
# ip/tc/unshare/mpirun, no permission).
set -euo pipefail

bin=$1 data=$2 work=$3 src=$4
step=$work/step
params=$data/mlp-residual/params.safetensors
inputs=$data/mlp-residual/data.safetensors
out=$work/multihost
run=("$bin/dualpipe-run" "$step" --params="$params" --data="$inputs")

fail() { echo "FAIL: $*" >&2; exit 1; }
show() { echo "+ $*" >&2; }
losses() { sed -n 's/^\(step [0-9]* loss [-0-9.e]*\) time .*/\1/p' "$1"; }

# shellcheck source=../../scripts/netns-lib.sh
source "$src/scripts/netns-lib.sh"
if ! why=$(netns_unavailable); then
  echo "SKIP: cannot emulate hosts with network namespaces here: $why"
  exit 77
fi
[ -f "$step/manifest.json" ] || fail "no compiled step at $step (the mpi.run.compile fixture)"

rm -rf "$out"
mkdir -p "$out"
netns_sweep dpmh
NETNS_PREFIX="dpmh$$" NETNS_WORK="$out/netns"
trap netns_cleanup EXIT
trap 'exit 130' INT TERM
netns_setup 2 || fail "could not make the namespaces"
netns_hostfile "$NETNS_WORK/hosts" 2 2
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
netns_mpirun_cmd "$NETNS_WORK/hosts" 4
br="${NETNS_PREFIX}-br"

show dualpipe-run --backend=local --check --steps=3
"${run[@]}" --check --steps=3 >"$out/local.log"
cat "$out/local.log"
[ "$(losses "$out/local.log" | wc -l)" = 3 ] || fail "the local run printed no 3 step lines"

# Where the 4 ranks run: two on each host, each host its own name.
show mpirun -np 4 --hostfile hosts hostname
# The host names are what the processes print; mpirun's own warnings go to
# stderr (under load its rsh launcher can print "setpgid(...) failed ...
# Permission denied" for a child that has already exec'd: harmless, and it
# made this comparison fail when both streams went to one file).
timeout 60 "${NETNS_MPIRUN[@]}" hostname >"$out/hosts.log" 2>"$out/hosts.err" ||
  { cat "$out/hosts.log" "$out/hosts.err"; fail "mpirun could not start processes in the namespaces"; }
expected=$(printf '%s\n' "$(netns_host_name 0)" "$(netns_host_name 0)" \
  "$(netns_host_name 1)" "$(netns_host_name 1)")
[ "$(sort "$out/hosts.log")" = "$expected" ] ||
  { cat "$out/hosts.log" "$out/hosts.err"; fail "the ranks did not run 2 per host on both hosts"; }

rx_bytes() { ip netns exec "$br" cat "/sys/class/net/p$1/statistics/rx_bytes"; }

for link in plain 100mbit; do
  if [ "$link" = plain ]; then netns_unlimit; else netns_limit "$link" || fail "tc failed"; fi
  before0=$(rx_bytes 0) before1=$(rx_bytes 1)
  show "mpirun -np 4 --hostfile hosts (2 namespaces, link $link) dualpipe-run --backend=mpi --check --steps=3"
  log="$out/mpi-$link.log"
  set +e
  timeout 120 "${NETNS_MPIRUN[@]}" "${run[@]}" --backend=mpi --check --steps=3 \
    --timeout=30 >"$log" 2>&1
  status=$?
  set -e
  cat "$log"
  [ "$status" = 0 ] || fail "the 2-host run (link $link) exited with status $status"
  grep -Eq '^dualpipe-run: dualpipe on 4 ranks, .*, backend mpi, [0-9]+ BLAS threads? per rank \((cores / ranks|--threads|[A-Z_]+)\)$' "$log" ||
    fail "no header line for backend mpi"
  grep -q '^check: 4-rank pipeline vs 1-rank reference: .*: PASS$' "$log" ||
    fail "the 2-host run's check did not pass (link $link)"
  [ "$(losses "$log" | wc -l)" = 3 ] || fail "expected 3 step lines (link $link)"
  diff <(losses "$out/local.log") <(losses "$log") ||
    fail "the losses on 2 hosts (link $link) differ from the local run"
  diff <(grep '^check:' "$out/local.log") <(grep '^check:' "$log") ||
    fail "the check lines differ (link $link)"
  sent0=$(($(rx_bytes 0) - before0)) sent1=$(($(rx_bytes 1) - before1))
  echo "link $link: host 0 sent $sent0 bytes, host 1 sent $sent1 bytes over their links"
  # Rank 1 (host 0) sends activations to rank 2 (host 1) and back: well over
  # a kilobyte each way even for this small model.
  [ "$sent0" -gt 1024 ] && [ "$sent1" -gt 1024 ] ||
    fail "too few bytes crossed the hosts' links (link $link): the ranks did not talk over TCP"
done
echo "2 hosts (network namespaces) x 2 ranks over TCP equal 4 threads: losses and check line, unlimited and at 100mbit"
