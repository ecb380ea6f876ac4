// RUN: not dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=dualpipe microbatches=8" -o /dev/null 2>&1 | FileCheck %s --check-prefix=PLACE
// PLACE: error: schedule 'dualpipe' needs stages placed 'dualpipe' (--dualpipe-partition="placement=dualpipe"), but the pipeline is 'linear'

// RUN: not dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-schedule="schedule=dualpipe microbatches=7" -o /dev/null 2>&1 | FileCheck %s --check-prefix=ODDM
// ODDM: error: DualPipe needs an even number of micro-batches

// RUN: not dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=1f1b microbatches=2" -o /dev/null 2>&1 | FileCheck %s --check-prefix=FEWM
// FEWM: error: 1F1B needs

// RUN: not dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=wavefront microbatches=8" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NAME
// NAME: error: unknown schedule 'wavefront'; use dualpipe, dualpipev, 1f1b, zb1p, zbv, gpipe, interleaved or auto

// RUN: not dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-schedule="schedule=1f1b microbatches=8" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOPIPE
// NOPIPE: error: no dualpipe.pipeline op; run --dualpipe-partition first

// RUN: not dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=1f1b" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOM
// NOM: error: microbatches=M is required (M >= 1)

// RUN: not dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-emit-schedule=%t.csv -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOSCHED
// NOSCHED: error: no dualpipe.schedule to write; run --dualpipe-schedule first
