#!/usr/bin/env bash
# The runtime under ASan and UBSan: configures build-asan/ with
# DUALPIPE_SANITIZE=ON (the runtime, the manifest and session libraries,
# dualpipe-run and the runtime's unit tests instrumented), builds what the
# checks need, runs the runtime's unit tests and dualpipe-run training tests
# (lit: compiled steps trained on threads and under mpirun, --check, --dp,
# checkpoints, the hostile-input and kill -9 tests), with the OpenMPI leak
# suppressions. Any sanitizer report fails the run.
#
#   runtime/sanitize/run.sh [BUILD_DIR [CMAKE_ARGS...]]   (default build-asan)
#
# Release flags as in build/ (so ccache serves the compiler's objects); the
# sanitized targets add -g.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-asan}
shift || true
supp=$PWD/runtime/sanitize/lsan.supp
# fast_unwind_on_malloc=0: OpenMPI's plugins are built without frame
# pointers and unloaded at MPI_Finalize, so the fast unwinder's stacks of
# their allocations stop in an "<unknown module>"; the slow one reaches
# libmpi or libopen-pal, which lsan.supp names.
# intercept_tls_get_addr=0: GCC 12's libasan (the one here; later LLVM
# releases find the block through the allocator instead) takes
# a dynamic TLS block whose address is 16 past a page boundary for one with
# a glibc 2.19 header and reads the 16 bytes before it as the block's start
# and size. Since glibc 2.25 there is no such header; under ASan those bytes
# are the allocator's chunk header, so the block is recorded as a garbage
# range (e.g. start 0x4157, size 0x400001102) and LeakSanitizer's tracer
# faults scanning it at exit ("Tracer caught signal 11 ... LeakSanitizer has
# encountered a fatal error"; seen in train-optimizer-runner-mpi's --dp=2
# run, an OpenMPI process's main thread, issue #19). Whether a block lands
# there depends on the heap's history, so it came and went with the
# environment and the compiled step. Without the interceptor dynamic TLS
# blocks (the __thread variables of dlopen'd libraries) are not scanned as
# roots: that can only add reports (a block held only there would be called
# a leak, loudly), never hide one. Leak detection stays on everywhere.
# tls_probe.c reproduces the crash and is checked first.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:fast_unwind_on_malloc=0:intercept_tls_get_addr=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$supp:print_suppressions=0
if [[ ! -f $build/build.ninja ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DDUALPIPE_SANITIZE=ON "$@" >/dev/null
fi
tests=(RuntimeTests GemmTests NcclLogicTests ManifestTests SessionTests CommSummaryTests)
cmake --build "$build" -j "$(nproc)" --target dualpipe-run dualpipe-compile \
  dualpipe-gen dualpipe-sched "${tests[@]}" toy_step toy_step_opt toy_step_noabi
echo "== tls probe: a leak check with a dynamic TLS block 16 bytes past a page"
mkdir -p "$build/tls-probe"
cc -shared -fPIC -o "$build/tls-probe/lib.so" runtime/sanitize/tls_probe_lib.c
cc -fsanitize=address,undefined -g -o "$build/tls-probe/tls_probe" \
  runtime/sanitize/tls_probe.c -ldl -lpthread
"$build/tls-probe/tls_probe" "$build/tls-probe/lib.so"
for t in "${tests[@]}"; do
  echo "== $t (ASan+UBSan)"
  "$build/bin/$t" --gtest_brief=1
done
echo "== lit: dualpipe-run training tests (ASan+UBSan)"
/usr/lib/llvm-22/bin/lit -sv "$build/test" --filter \
  'train-optimizer-runner|train-mlp-gen-resume|train-sgd|dualpipe-run-hostile|dualpipe-run-checkpoint-crash|dualpipe-run-errors|train-optimizer-runner-mpi'
echo "sanitizers: no report"
