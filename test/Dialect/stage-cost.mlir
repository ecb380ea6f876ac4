// RUN: dualpipe-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// dualpipe.stage_cost (#18: --dualpipe-partition="stage-costs=1") round-trips.
// CHECK: dualpipe.stage_cost = {activation_bytes = 64 : i64, forward_s = 1.500000e-06 : f64, parameter_bytes = 128 : i64}
func.func @s0() attributes {dualpipe.stage = 0 : i64, dualpipe.stage_cost = {activation_bytes = 64 : i64, forward_s = 1.5e-06 : f64, parameter_bytes = 128 : i64}} { return }

// -----

// expected-error @+1 {{'dualpipe.stage_cost' on the op must be {forward_s = <f64 >= 0>, activation_bytes = <int >= 0>, parameter_bytes = <int >= 0>}}}
func.func @s0() attributes {dualpipe.stage_cost = {activation_bytes = 64 : i64, forward_s = -1.0 : f64, parameter_bytes = 128 : i64}} { return }

// -----

// expected-error @+1 {{'dualpipe.stage_cost' on the op must be}}
func.func @s0() attributes {dualpipe.stage_cost = {forward_s = 1.0 : f64, parameter_bytes = 128 : i64}} { return }
