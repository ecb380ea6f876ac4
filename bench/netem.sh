#!/usr/bin/env bash
# bench/netem.sh - pipeline schedules over an emulated slow network (#16).
#
# Each rank is its own host: a network namespace with one veth link into a
# bridge namespace (scripts/netns-lib.sh), MPI over TCP on those links only
# (--mca btl tcp,self), daemons started in the namespaces by an rsh agent.
# Each link is rate-limited with a tbf qdisc on both ends (--rate), with a
# netem delay under it (--delay) only where the kernel has netem. For one
# dualpipe-gen MLP it runs, side by side, DualPipe, 1F1B and ZB-H1 on N=2
# and 4 ranks (same model, same M), each over the limited links and over the
# same namespaces without any qdisc, several steps and several repeats, and
# prints a table: schedule, N, link, median step time over the steps after
# the first (all repeats pooled), its spread, the transfer and all-reduce
# figures dualpipe-run prints at the end of a run (`transfers: T ms in
# flight, H% hidden under compute`, `all-reduce: T ms, H% hidden under
# compute`; "-" where the runner prints none), and the job's wall and CPU
# time (user+sys of all its ranks, summed).
#
#   bench/netem.sh [--rate=1gbit] [--delay=2ms] [--layers=8] [--width=128]
#                  [--batch=128] [--microbatches=16] [--steps=6] [--repeats=3]
#                  [--schedules=dualpipe,1f1b,zb1p] [--ranks=2,4]
#                  [--bin=build/bin] [--work=/tmp/dualpipe-netem]
#                  [--mpi-args='--mca btl_tcp_eager_limit 262144'] [--dry-run]
#
#   --batch       rows of one micro-batch (dualpipe-gen's --batch); a tensor
#                 between stages is width x batch x 4 bytes (f32); the MLP's
#                 cut carries two per crossing (printed from the compiled IR)
#   --mpi-args    more mpirun arguments (split on spaces), e.g. OpenMPI's TCP
#                 eager limit (64 KB by default: a larger message goes by
#                 rendezvous, which waits for both ends to enter MPI)
#   --dry-run     print the sizing and every command it would run; needs no
#                 root, makes nothing
#
# The table also has rows "threads": the same steps on the local backend
# (one process, no network), from WORK/logs/local-*.log.
#
# Everything it makes (namespaces, /etc/netns/<ns>/, qdiscs) is removed on
# exit, also on failure or Ctrl-C. Results: WORK/runs.csv (one row per run),
# WORK/table.txt, the logs under WORK/logs/.
#
# Exit status: 0 measured; 2 cannot run here (not root, no ip/tc/unshare/
# mpirun/python3, namespaces cannot be made, --delay without netem, no
# binaries), said in one line; 1 a compile or a run failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

RATE=1gbit DELAY="" LAYERS=8 WIDTH=128 BATCH=128 M=16 STEPS=6 REPEATS=3
SCHEDULES=dualpipe,1f1b,zb1p RANKS=2,4 BIN="$ROOT/build/bin"
WORK=/tmp/dualpipe-netem DRY=0 TIMEOUT=300 MPI_ARGS=""
for arg in "$@"; do
  case $arg in
    --rate=*) RATE=${arg#*=} ;;
    --delay=*) DELAY=${arg#*=} ;;
    --layers=*) LAYERS=${arg#*=} ;;
    --width=*) WIDTH=${arg#*=} ;;
    --batch=*) BATCH=${arg#*=} ;;
    --microbatches=*) M=${arg#*=} ;;
    --steps=*) STEPS=${arg#*=} ;;
    --repeats=*) REPEATS=${arg#*=} ;;
    --schedules=*) SCHEDULES=${arg#*=} ;;
    --ranks=*) RANKS=${arg#*=} ;;
    --bin=*) BIN=${arg#*=} ;;
    --work=*) WORK=${arg#*=} ;;
    --timeout=*) TIMEOUT=${arg#*=} ;;
    --mpi-args=*) MPI_ARGS=${arg#*=} ;;
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) echo "bench/netem.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

unavailable() { echo "bench/netem.sh: NOT RUN: $*" >&2; exit 2; }
die() { echo "bench/netem.sh: error: $*" >&2; exit 1; }

for v in LAYERS WIDTH BATCH M STEPS REPEATS TIMEOUT; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || unavailable "--${v,,} needs a positive integer, got '${!v}'"
done
[ "$STEPS" -ge 2 ] || unavailable "--steps must be at least 2 (the first step is not timed)"
IFS=, read -r -a SCHED_LIST <<<"$SCHEDULES"
IFS=, read -r -a RANK_LIST <<<"$RANKS"
for s in "${SCHED_LIST[@]}"; do
  case $s in dualpipe|1f1b|zb1p|dualpipev|gpipe|interleaved|zbv) ;;
    *) unavailable "unknown schedule '$s' in --schedules" ;; esac
done
MAXN=0
for n in "${RANK_LIST[@]}"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] && [ "$n" -le 200 ] || unavailable "bad rank count '$n' in --ranks"
  [ "$n" -gt "$MAXN" ] && MAXN=$n
done

# shellcheck source=../scripts/netns-lib.sh
source "$ROOT/scripts/netns-lib.sh"
RATE_BITS=$(tc_rate_bits "$RATE") || unavailable "--rate=$RATE"

# Sizing: one activation (forward) or gradient (backward) message between
# stages is one micro-batch of the hidden layer.
MSG_BYTES=$((WIDTH * BATCH * 4))
MSG_MS=$(awk -v b="$MSG_BYTES" -v r="$RATE_BITS" 'BEGIN { printf "%.3f", b * 8 / r * 1000 }')
FLOPS_LAYER=$((2 * WIDTH * WIDTH * BATCH))
PARAM_BYTES=$((LAYERS * (WIDTH * WIDTH + WIDTH) * 4))
echo "model: dualpipe-gen mlp --layers=$LAYERS --width=$WIDTH --batch=$BATCH; M=$M micro-batches per step"
echo "one tensor between stages: $WIDTH x $BATCH x 4 = $MSG_BYTES bytes = $MSG_MS ms at $RATE (serialization only)"
echo "forward of one layer on one micro-batch: $FLOPS_LAYER FLOP (backward about twice that)"
# After every step dualpipe-run --backend=mpi exchanges only the losses
# (M floats) over all processes; gradients stay with the ranks that hold
# them (DualPipe's mirror pair sums its copies inside the step), so no
# gradient crosses the links between steps (--dp adds each rank's replicas).
echo "parameters: $PARAM_BYTES bytes in all; between steps only the $M losses cross the links"

if [ -n "$DELAY" ]; then
  echo "link: tbf rate $RATE, netem delay $DELAY"
else
  echo "link: tbf rate $RATE, no delay (--delay= adds a netem delay where the kernel has netem)"
fi

LOGS=$WORK/logs
model=$WORK/model.mlir
gen=("$BIN/dualpipe-gen" mlp --layers="$LAYERS" --width="$WIDTH" --batch="$BATCH" -o "$model")
compile_cmd() { echo "$BIN/dualpipe-compile" "$model" --schedule="$1" --ranks="$2" --microbatches="$M" -o "$WORK/step-$1-$2"; }
run_args() { echo "$BIN/dualpipe-run" "$WORK/step-$1-$2" --backend=mpi --steps="$STEPS" --no-progress --timeout=60; }

if [ "$DRY" = 1 ]; then
  echo "dry run: needs no root, runs nothing (as root it makes and removes one probe namespace); would run:"
  why=$(netns_unavailable) && echo "  (this machine can make namespaces)" || echo "  (here it could not: $why)"
  if [ -n "$DELAY" ]; then
    if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
      echo "  (netem not checked: needs root and ip; --delay is refused where netem is missing)"
    elif netns_have_netem; then
      echo "  (netem is available)"
    else
      echo "  (netem is unavailable in this kernel: --delay would be refused)"
    fi
  fi
  echo "  ${gen[*]}"
  for n in "${RANK_LIST[@]}"; do for s in "${SCHED_LIST[@]}"; do echo "  $(compile_cmd "$s" "$n")"; done; done
  NETNS_PREFIX=dpnetemPID NETNS_WORK=$WORK/netns
  echo "  namespaces: ${NETNS_PREFIX}-br (bridge br0 $NETNS_BRIDGE_IP/24, mpirun runs here) and $MAXN hosts:"
  for ((i = 0; i < MAXN; i++)); do
    echo "    $(netns_host_name "$i"): eth0 $(netns_host_ip "$i")/24 <-> p$i on br0; limited link: tbf rate $RATE on eth0 and p$i${DELAY:+, netem delay $DELAY under each}"
  done
  for link in "$RATE" none; do for n in "${RANK_LIST[@]}"; do
    netns_mpirun_cmd "$NETNS_WORK/hosts-$n" "$n"
    for s in "${SCHED_LIST[@]}"; do
      echo "  [$link] x$REPEATS: ${NETNS_MPIRUN[*]} $MPI_ARGS $(run_args "$s" "$n")"
    done
  done; done
  echo "  then: the table (schedule, N, link, median/IQR/min-max step ms over steps 1..$((STEPS - 1)), transfers ms, % hidden, all-reduce ms, % hidden, wall s, cpu s)"
  exit 0
fi

# Checks, each with one clear line.
for b in dualpipe-gen dualpipe-compile dualpipe-run; do
  [ -x "$BIN/$b" ] || unavailable "no $BIN/$b (build first: cmake -S . -B build -G Ninja && ninja -C build, or --bin=DIR)"
done
command -v python3 >/dev/null 2>&1 || unavailable "no python3 (it makes the table)"
why=$(netns_unavailable) || unavailable "$why"
if [ -n "$DELAY" ] && ! netns_have_netem; then
  unavailable "--delay=$DELAY needs the netem qdisc, which this kernel does not have ('tc qdisc add ... netem' fails: Specified qdisc kind is unknown); run without --delay (rate limiting with tbf works)"
fi

mkdir -p "$WORK" "$LOGS"
rm -rf "${LOGS:?}"/*
# Namespaces of an earlier run that was killed (SIGKILL leaves them).
netns_sweep dpnetem
[ -z "$MPI_ARGS" ] || echo "extra mpirun arguments: $MPI_ARGS"

NETNS_PREFIX="dpnetem$$" NETNS_WORK="$WORK/netns"
RUN_PID=""
# On exit (also failure, Ctrl-C, TERM): end the running job (timeout passes
# TERM to mpirun, which ends its daemons and ranks), then remove the
# namespaces.
cleanup() {
  if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; then
    kill -TERM "$RUN_PID" 2>/dev/null || true
    wait "$RUN_PID" 2>/dev/null || true
  fi
  netns_cleanup
}
trap cleanup EXIT
trap 'echo "bench/netem.sh: interrupted, cleaning up" >&2; exit 130' INT TERM

echo "+ ${gen[*]}"
"${gen[@]}" >/dev/null || die "dualpipe-gen failed"
for n in "${RANK_LIST[@]}"; do
  for s in "${SCHED_LIST[@]}"; do
    read -r -a c <<<"$(compile_cmd "$s" "$n")"
    echo "+ ${c[*]}"
    nice "${c[@]}" -j 1 >"$LOGS/compile-$s-$n.log" 2>&1 ||
      { cat "$LOGS/compile-$s-$n.log" >&2; die "dualpipe-compile --schedule=$s --ranks=$n failed"; }
  done
done

# Sizing as compiled: the activations and gradients every rank sends in one
# step (the isends of the schedule's IR), and the compute of a stage
# measured on the local backend (mean F, B, ... of a --trace run, threads,
# no network).
for n in "${RANK_LIST[@]}"; do
  for s in "${SCHED_LIST[@]}"; do
    "$BIN/dualpipe-compile" "$model" --schedule="$s" --ranks="$n" --microbatches="$M" \
      --emit=mlir --stop-after=dualpipe-insert-comm 2>/dev/null |
      awk -v s="$s" -v n="$n" -v r="$RATE_BITS" -v rate="$RATE" '/dualpipe.isend/ {
          msgs++
          line = $0
          while (match(line, /tensor<[0-9x]*xf32>/)) {
            t = substr(line, RSTART + 7, RLENGTH - 12); k = split(t, d, "x")
            b = 4; for (i = 1; i <= k; i++) b *= d[i]
            bytes += b; tensors++
            line = substr(line, RSTART + RLENGTH)
          }
        }
        END { if (msgs) printf "as compiled, %s N=%d: %d crossings per step (%d tensors), %.2f MB in all, %.2f MB per crossing = %.3f ms at %s\n",
                s, n, msgs, tensors, bytes / 1e6, bytes / msgs / 1e6, bytes / msgs * 8 / r * 1000, rate }'
  done
done
for n in "${RANK_LIST[@]}"; do for first in "${SCHED_LIST[@]}"; do
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$BIN/dualpipe-run" "$WORK/step-$first-$n" --steps="$STEPS" \
    --no-progress --trace="$WORK/local-$first-$n.json" >"$LOGS/local-$first-$n.log" 2>&1 ||
    { cat "$LOGS/local-$first-$n.log" >&2; die "the local run of $first N=$n failed"; }
  python3 - "$WORK/local-$first-$n.json" "$first" "$n" <<'PY' || true
import json, sys, collections
d = json.load(open(sys.argv[1]))
ev = d['traceEvents'] if isinstance(d, dict) else d
dur = collections.defaultdict(list)
for e in ev:
    if e.get('cat') == 'compute' and e.get('ph') == 'X':
        dur[e['name'].split()[0]].append(e['dur'] / 1000.0)
print('compute of one stage on one micro-batch (%s N=%s, threads, last step): %s' % (
    sys.argv[2], sys.argv[3], ', '.join('%s %.2f ms' % (k, sum(v) / len(v)) for k, v in sorted(dur.items()))))
PY
done; done

netns_setup "$MAXN" || die "could not set up the namespaces"
echo "namespaces: ${NETNS_PREFIX}-br and ${NETNS_PREFIX}-h0..h$((MAXN - 1)) (removed on exit)"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}

# Each rank runs under this wrapper, which writes the rank's user and system
# CPU seconds (bash's time of the rank process) to CPUDIR/cpu.<rank>.
cat >"$WORK/rank-time" <<'WRAP'
#!/bin/bash
dir=$1; shift
exec 3>&2
TIMEFORMAT='%U %S'
{ time "$@" 2>&3 3>&-; } 2>"$dir/cpu.${OMPI_COMM_WORLD_RANK:-x}"
WRAP
chmod +x "$WORK/rank-time"

# Bytes the first N hosts sent onto their links (the bridge ends' receive
# counters), and packets the qdiscs dropped, summed.
link_bytes() {
  local i sum=0
  for ((i = 0; i < $1; i++)); do
    sum=$((sum + $(ip netns exec "${NETNS_PREFIX}-br" cat "/sys/class/net/p$i/statistics/rx_bytes")))
  done
  echo "$sum"
}
link_drops() {
  local i sum=0 d
  for ((i = 0; i < $1; i++)); do
    for d in $( (ip netns exec "$(netns_host_name "$i")" tc -s qdisc show dev eth0
                 ip netns exec "${NETNS_PREFIX}-br" tc -s qdisc show dev "p$i") |
               sed -n 's/.*dropped \([0-9]*\).*/\1/p'); do
      sum=$((sum + d))
    done
  done
  echo "$sum"
}

CSV=$WORK/runs.csv
echo "schedule,ranks,link,repeat,status,wall_s,user_s,sys_s,link_bytes,drops,log" >"$CSV"
for link in "$RATE" none; do
  if [ "$link" = none ]; then netns_unlimit; else netns_limit "$RATE" "$DELAY" || die "tc failed"; fi
  for n in "${RANK_LIST[@]}"; do
    netns_hostfile "$NETNS_WORK/hosts-$n" "$n" 1
    netns_mpirun_cmd "$NETNS_WORK/hosts-$n" "$n"
    for s in "${SCHED_LIST[@]}"; do
      read -r -a r <<<"$(run_args "$s" "$n")"
      for ((k = 0; k < REPEATS; k++)); do
        log="$LOGS/$s-$n-$link-$k.log"
        echo "+ [$link] mpirun -np $n (one namespace per rank) dualpipe-run step-$s-$n --backend=mpi --steps=$STEPS  (repeat $((k + 1))/$REPEATS)"
        cpudir="$LOGS/$s-$n-$link-$k.cpu"
        rm -rf "$cpudir" && mkdir -p "$cpudir"
        bytes0=$(link_bytes "$n") drops0=$(link_drops "$n")
        start=$(date +%s.%N)
        # In the background, so that a signal is handled at once (bash runs
        # traps only between foreground commands).
        # shellcheck disable=SC2086 # MPI_ARGS: words on purpose
        timeout "$TIMEOUT" "${NETNS_MPIRUN[@]}" $MPI_ARGS "$WORK/rank-time" "$cpudir" "${r[@]}" >"$log" 2>&1 &
        RUN_PID=$!
        set +e
        wait "$RUN_PID"
        status=$?
        set -e
        RUN_PID=""
        wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
        # The ranks' CPU time, summed (mpirun's own and its daemons' are small).
        read -r user sys < <(cat "$cpudir"/cpu.* 2>/dev/null | awk '{ u += $1; s += $2 } END { printf "%.3f %.3f\n", u, s }')
        bytes=$(($(link_bytes "$n") - bytes0)) drops=$(($(link_drops "$n") - drops0))
        echo "$s,$n,$link,$k,$status,$wall,$user,$sys,$bytes,$drops,$log" >>"$CSV"
        if [ "$status" != 0 ]; then
          tail -5 "$log" >&2
          echo "bench/netem.sh: the run above failed (status $status); its row says so" >&2
        fi
      done
    done
  done
done
netns_unlimit

python3 - "$CSV" "$WORK/table.txt" "$STEPS" "$LOGS" <<'EOF'
import csv, glob, os, re, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
# The local runs (threads): one row each, no wall/cpu figures.
for f in sorted(glob.glob(os.path.join(sys.argv[4], 'local-*-*.log'))):
    s, n = os.path.basename(f)[len('local-'):-len('.log')].rsplit('-', 1)
    rows.append(dict(schedule=s, ranks=n, link='threads', status='0', log=f))
steps = int(sys.argv[3])
step_re = re.compile(r'^step (\d+) loss (\S+) time ([0-9.]+) ms')
tr_re = re.compile(r'^transfers: ([0-9.]+) ms in flight, ([0-9.]+)% hidden under compute')
ar_re = re.compile(r'^all-reduce: ([0-9.]+) ms, ([0-9.]+)% hidden under compute')
groups = {}
for r in rows:
    key = (r['schedule'], int(r['ranks']), r['link'])
    g = groups.setdefault(key, dict(times=[], tr=[], trh=[], ar=[], arh=[], wall=[], cpu=[], mb=[], drops=[], failed=0, losses=set()))
    if r['status'] != '0':
        g['failed'] += 1
        continue
    if r['link'] != 'threads':
        g['wall'].append(float(r['wall_s']))
        g['cpu'].append(float(r['user_s']) + float(r['sys_s']))
        g['mb'].append(int(r['link_bytes']) / 1e6)
        g['drops'].append(int(r['drops']))
    losses = []
    for line in open(r['log'], errors='replace'):
        m = step_re.match(line)
        if m:
            losses.append(m.group(2))
            if int(m.group(1)) >= 1:
                g['times'].append(float(m.group(3)))
        m = tr_re.match(line)
        if m:
            g['tr'].append(float(m.group(1))); g['trh'].append(float(m.group(2)))
        m = ar_re.match(line)
        if m:
            g['ar'].append(float(m.group(1))); g['arh'].append(float(m.group(2)))
    g['losses'].add(tuple(losses))

def med(v, fmt='%.1f'):
    return fmt % statistics.median(v) if v else '-'
def quart(v):
    if len(v) < 2:
        return '-'
    q = statistics.quantiles(v, n=4)
    return '%.1f-%.1f' % (q[0], q[2])
def rng(v):
    return '%.1f-%.1f' % (min(v), max(v)) if v else '-'

head = ['schedule', 'N', 'link', 'step ms (median)', 'IQR', 'min-max', 'steps',
        'transfers ms', 'hidden', 'all-reduce ms', 'hidden', 'wall s', 'cpu s', 'cpu/wall', 'MB on links', 'drops', 'failed']
out = []
for key in sorted(groups, key=lambda k: (k[1], {'none': 1, 'threads': 2}.get(k[2], 0), ['dualpipe', '1f1b', 'zb1p'].index(k[0]) if k[0] in ('dualpipe', '1f1b', 'zb1p') else 9)):
    g = groups[key]
    cw = '-'
    if g['wall']:
        cw = '%.2f' % (statistics.median(g['cpu']) / statistics.median(g['wall']))
    out.append([key[0], str(key[1]), key[2], med(g['times']), quart(g['times']), rng(g['times']),
                str(len(g['times'])), med(g['tr']), med(g['trh']) + ('%' if g['trh'] else ''),
                med(g['ar']), med(g['arh']) + ('%' if g['arh'] else ''),
                med(g['wall'], '%.2f'), med(g['cpu'], '%.2f'), cw, med(g['mb']),
                med(g['drops'], '%d'), str(g['failed'])])
w = [max(len(h), *(len(r[i]) for r in out)) for i, h in enumerate(head)]
lines = ['| ' + ' | '.join(h.ljust(w[i]) for i, h in enumerate(head)) + ' |',
         '|' + '|'.join('-' * (x + 2) for x in w) + '|']
lines += ['| ' + ' | '.join(c.ljust(w[i]) for i, c in enumerate(r)) + ' |' for r in out]
# Same model, same seed: every run of one (schedule, N) prints the same losses.
for key, g in sorted(groups.items()):
    if len(g['losses']) > 1:
        lines.append('note: %s N=%d %s: the repeats printed different losses' % key)
lines.append('step ms: over steps 1..%d of every repeat, pooled; transfers/all-reduce: the totals '
             'dualpipe-run prints for the run (median over repeats; "-": it printed none); '
             'cpu s: user+sys of all ranks, summed; MB on links: what the hosts sent '
             'onto their links in the whole run (start-up included); drops: packets the qdiscs dropped' % (steps - 1))
text = '\n'.join(lines)
print(text)
open(sys.argv[2], 'w').write(text + '\n')
EOF
echo "bench/netem.sh: runs in $CSV, table in $WORK/table.txt"
if awk -F, 'NR > 1 && $5 != 0 { bad = 1 } END { exit !bad }' "$CSV"; then
  echo "bench/netem.sh: some runs failed (see the 'failed' column and $LOGS)" >&2
  exit 1
fi
