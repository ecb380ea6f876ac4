# shellcheck shell=bash disable=SC2034,SC2054
# scripts/netns-lib.sh - emulated hosts for MPI runs: network namespaces on
# one bridge, optionally rate-limited, and an rsh agent that starts OpenMPI's
# daemons inside them. Sourced (bash) by bench/netem.sh and
# test/mpi/multihost.sh; needs root, iproute2 (ip, tc), unshare and mpirun.
#
# Layout (PREFIX is unique per invocation, e.g. "dp1234"):
#
#   PREFIX-br      bridge namespace: bridge "br0" 10.213.0.254/24; mpirun runs
#                  here; veth "p<i>" per host attached to br0
#   PREFIX-h<i>    host i: veth "eth0" 10.213.0.<i+1>/24 (the other end of p<i>)
#
# Nothing is made in the root namespace except /etc/netns/<ns>/hosts (so the
# host names resolve inside the namespaces); netns_cleanup removes it all.
# A rate limit is a tbf qdisc on both ends of each veth (the host's uplink and
# downlink); a delay is a netem qdisc under the tbf, only where the kernel
# has netem (netns_have_netem).
#
# Functions set/use: NETNS_PREFIX, NETNS_HOSTS (count), NETNS_WORK (folder
# for the host file, the agent and the map), NETNS_SUBNET.

NETNS_SUBNET=10.213.0.0/24
NETNS_BRIDGE_IP=10.213.0.254
NETNS_PREFIX=${NETNS_PREFIX:-}
NETNS_HOSTS=0
NETNS_WORK=${NETNS_WORK:-}
NETNS_MADE=()   # namespaces made, for cleanup

netns_host_ip() { echo "10.213.0.$(($1 + 1))"; }
netns_host_name() { echo "${NETNS_PREFIX}-h$1"; }

# Why this machine cannot make emulated hosts (prints the reason, returns 1),
# or nothing and 0. Tries a real namespace and veth pair.
netns_unavailable() {
  local tool
  for tool in ip tc unshare mpirun; do
    command -v "$tool" >/dev/null 2>&1 || { echo "no '$tool' on PATH"; return 1; }
  done
  [ "$(id -u)" = 0 ] || { echo "not root (network namespaces need root)"; return 1; }
  local probe="dpprobe$$"
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "cannot make a network namespace ('ip netns add' failed)"
    return 1
  fi
  if ! ip -n "$probe" link add va type veth peer name vb 2>/dev/null; then
    ip netns del "$probe" 2>/dev/null
    echo "cannot make a veth pair inside a network namespace"
    return 1
  fi
  ip netns del "$probe" 2>/dev/null
  return 0
}

# 0 when the kernel has netem (tried on a throwaway veth), else 1.
netns_have_netem() {
  local probe="dpnetem$$" ok=1
  ip netns add "$probe" 2>/dev/null || return 1
  if ip -n "$probe" link add va type veth peer name vb 2>/dev/null &&
     ip netns exec "$probe" tc qdisc add dev va root netem delay 1ms 2>/dev/null; then
    ok=0
  fi
  ip netns del "$probe" 2>/dev/null
  return $ok
}

# netns_sweep BASE: remove namespaces named BASE<pid>-... whose process
# <pid> is gone (left by a run killed with SIGKILL, e.g. a CTest timeout,
# which no trap survives). Live runs' namespaces are left alone.
netns_sweep() {
  local base=$1 ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
    [[ "$ns" =~ ^${base}([0-9]+)- ]] || continue
    pid=${BASH_REMATCH[1]}
    kill -0 "$pid" 2>/dev/null && continue
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
}

netns_cleanup() {
  local ns
  for ns in "${NETNS_MADE[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  NETNS_MADE=()
}

# netns_setup HOSTS: the bridge namespace and HOSTS host namespaces, no qdisc.
# Writes NETNS_WORK/agent, NETNS_WORK/nsmap. Returns 1 with a message on
# failure (the caller's trap cleans up what was made).
netns_setup() {
  local hosts=$1 i ns br
  [ -n "$NETNS_PREFIX" ] && [ -n "$NETNS_WORK" ] || { echo "netns_setup: NETNS_PREFIX and NETNS_WORK must be set" >&2; return 1; }
  mkdir -p "$NETNS_WORK"
  br="${NETNS_PREFIX}-br"
  ip netns add "$br" || { echo "netns_setup: cannot make namespace $br" >&2; return 1; }
  NETNS_MADE+=("$br")
  ip -n "$br" link set lo up
  ip -n "$br" link add br0 type bridge
  ip -n "$br" addr add "$NETNS_BRIDGE_IP/24" dev br0
  ip -n "$br" link set br0 up
  local hostsfile="127.0.0.1 localhost"$'\n'"$NETNS_BRIDGE_IP ${NETNS_PREFIX}-bridge"$'\n'
  : >"$NETNS_WORK/nsmap"
  for ((i = 0; i < hosts; i++)); do
    ns=$(netns_host_name "$i")
    ip netns add "$ns" || { echo "netns_setup: cannot make namespace $ns" >&2; return 1; }
    NETNS_MADE+=("$ns")
    ip -n "$br" link add "p$i" type veth peer name eth0 netns "$ns" ||
      { echo "netns_setup: cannot make the veth pair of $ns" >&2; return 1; }
    ip -n "$br" link set "p$i" master br0
    ip -n "$br" link set "p$i" up
    ip -n "$ns" addr add "$(netns_host_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    hostsfile+="$(netns_host_ip "$i") $ns"$'\n'
    echo "$ns $ns" >>"$NETNS_WORK/nsmap"
  done
  NETNS_HOSTS=$hosts
  for ns in "${NETNS_MADE[@]}"; do
    mkdir -p "/etc/netns/$ns"
    printf '%s' "$hostsfile" >"/etc/netns/$ns/hosts"
  done
  # The rsh agent OpenMPI calls as `agent [options] HOST COMMAND...`: runs
  # COMMAND (a shell command line) in HOST's namespace, under its own UTS
  # namespace whose host name is HOST (so each daemon sees its own node).
  cat >"$NETNS_WORK/agent" <<EOF
#!/bin/bash
while [ \$# -gt 0 ] && [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1; shift
ns=\$(awk -v h="\$host" '\$1 == h { print \$2 }' "$NETNS_WORK/nsmap")
[ -n "\$ns" ] || { echo "netns agent: unknown host '\$host' (not in $NETNS_WORK/nsmap)" >&2; exit 1; }
exec ip netns exec "\$ns" unshare --uts /bin/sh -c 'hostname "\$0" && exec /bin/sh -c "\$1"' "\$host" "\$*"
EOF
  chmod +x "$NETNS_WORK/agent"
  return 0
}

# netns_hostfile FILE HOSTS SLOTS: an OpenMPI host file of the first HOSTS
# hosts, SLOTS processes each.
netns_hostfile() {
  local file=$1 hosts=$2 slots=$3 i
  : >"$file"
  for ((i = 0; i < hosts; i++)); do
    echo "$(netns_host_name "$i") slots=$slots" >>"$file"
  done
}

# netns_limit RATE [DELAY]: tbf at RATE (tc syntax, e.g. 200mbit) on both
# ends of every host's link, with a netem DELAY under it when DELAY is
# given. netns_unlimit: no qdisc (the veth default).
netns_limit() {
  local rate=$1 delay=${2:-} i br="${NETNS_PREFIX}-br" bits burst
  bits=$(tc_rate_bits "$rate") || return 1
  # Burst: 2 ms at the rate, at least 16 KB (a few MTUs); queue: 100 ms.
  burst=$((bits / 8 / 500))
  [ "$burst" -ge 16384 ] || burst=16384
  for ((i = 0; i < NETNS_HOSTS; i++)); do
    netns_qdisc "$(netns_host_name "$i")" eth0 "$rate" "$burst" "$delay" || return 1
    netns_qdisc "$br" "p$i" "$rate" "$burst" "$delay" || return 1
  done
}

netns_qdisc() {
  local ns=$1 dev=$2 rate=$3 burst=$4 delay=$5
  ip netns exec "$ns" tc qdisc del dev "$dev" root 2>/dev/null || true
  ip netns exec "$ns" tc qdisc add dev "$dev" root handle 1: tbf rate "$rate" \
    burst "$burst" latency 100ms ||
    { echo "tc: cannot add tbf rate $rate on $dev in $ns" >&2; return 1; }
  if [ -n "$delay" ]; then
    ip netns exec "$ns" tc qdisc add dev "$dev" parent 1:1 handle 10: netem delay "$delay" ||
      { echo "tc: cannot add netem delay $delay on $dev in $ns" >&2; return 1; }
  fi
}

netns_unlimit() {
  local i br="${NETNS_PREFIX}-br"
  for ((i = 0; i < NETNS_HOSTS; i++)); do
    ip netns exec "$(netns_host_name "$i")" tc qdisc del dev eth0 root 2>/dev/null || true
    ip netns exec "$br" tc qdisc del dev "p$i" root 2>/dev/null || true
  done
}

# Bits per second of a tc rate ("200mbit", "1gbit", "500kbit", "10mbps").
tc_rate_bits() {
  local r=${1,,} n unit
  n=${r%%[a-z]*}
  unit=${r#"$n"}
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "bad rate '$1' (want e.g. 200mbit, 1gbit)" >&2; return 1; }
  case $unit in
    bit|"") echo "$n" ;;
    kbit) echo $((n * 1000)) ;;
    mbit) echo $((n * 1000000)) ;;
    gbit) echo $((n * 1000000000)) ;;
    bps) echo $((n * 8)) ;;
    kbps) echo $((n * 8000)) ;;
    mbps) echo $((n * 8000000)) ;;
    gbps) echo $((n * 8000000000)) ;;
    *) echo "bad rate unit in '$1' (bit, kbit, mbit, gbit, bps, kbps, mbps, gbps)" >&2; return 1 ;;
  esac
}

# The mpirun command line for a job on the emulated hosts (an array in
# NETNS_MPIRUN): run from the bridge namespace, daemons started by the
# agent, TCP only on the bridge subnet (no shared memory between ranks).
netns_mpirun_cmd() {
  local hostfile=$1 np=$2
  NETNS_MPIRUN=(ip netns exec "${NETNS_PREFIX}-br" mpirun --allow-run-as-root --oversubscribe
    -np "$np" --hostfile "$hostfile"
    --mca plm_rsh_agent "$NETNS_WORK/agent"
    --mca btl tcp,self --mca btl_tcp_if_include "$NETNS_SUBNET"
    --mca oob_tcp_if_include "$NETNS_SUBNET"
    -x PATH -x LD_LIBRARY_PATH -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
}
