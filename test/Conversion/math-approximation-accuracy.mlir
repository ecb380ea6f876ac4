// The accuracy of --dualpipe-math-approximation against glibc's libm: each
// f32 function, compiled as the cpu lowering compiles it (the pass runs
// inside --dualpipe-lower-to-llvm-cpu), is evaluated at 200000 points of a
// range and compared with libm's f64 function (called directly) rounded to
// f32. Printed per function: its number, the largest distance in ulps
// (units in the last place of f32) over the range, and 1 when that is
// within the bound @main gives (measured + 1: a host without FMA may round
// differently). Then special values (infinities, NaN, zero, exp overflow
// and underflow), which must match libm exactly.
//
// Measured on x86-64 (AVX-512, FMA) with LLVM 22's patterns, max ulps:
//   tanh [-10, 10]: 4     exp [-87, 88]: 1       expm1 [-10, 10]: 2
//   log [e^-80, e^80]: 1  log1p [-0.99, 10]: 2   log2 [e^-80, e^80]: 1
//   erf [-5, 5]: 4        specials: 0
//
// The pipeline internalizes every function but the step's packed entry
// points; sed gives @main back its external linkage for mlir-runner.
//
// REQUIRES: mlir-runner
// RUN: dualpipe-opt %s --dualpipe-lower-to-llvm-cpu \
// RUN:   | sed 's/llvm.func internal @main(/llvm.func @main(/' \
// RUN:   | mlir-runner -e main -entry-point-result=void \
// RUN:       -shared-libs=%mlir_c_runner_utils \
// RUN:   | FileCheck %s

// tanh, exp, expm1, log, log1p, log2, erf, specials:
// CHECK:      {{^}}1, {{[0-9]+}}, 1{{$}}
// CHECK-NEXT: {{^}}2, {{[0-9]+}}, 1{{$}}
// CHECK-NEXT: {{^}}3, {{[0-9]+}}, 1{{$}}
// CHECK-NEXT: {{^}}4, {{[0-9]+}}, 1{{$}}
// CHECK-NEXT: {{^}}5, {{[0-9]+}}, 1{{$}}
// CHECK-NEXT: {{^}}6, {{[0-9]+}}, 1{{$}}
// CHECK-NEXT: {{^}}7, {{[0-9]+}}, 1{{$}}
// CHECK-NEXT: {{^}}8, 0, 1{{$}}

func.func private @printI64(i64)
func.func private @printComma()
func.func private @printNewline()

// The i-th of n points from lo to hi (exp of that when geometric), rounded
// to f32.
func.func @point(%lo: f64, %hi: f64, %n: index, %i: index, %geometric: i1)
    -> f32 {
  %ii = arith.index_cast %i : index to i64
  %if = arith.sitofp %ii : i64 to f64
  %ni = arith.index_cast %n : index to i64
  %nf = arith.sitofp %ni : i64 to f64
  %span = arith.subf %hi, %lo : f64
  %step = arith.divf %span, %nf : f64
  %off = arith.mulf %if, %step : f64
  %t = arith.addf %lo, %off : f64
  %g = func.call @exp(%t) : (f64) -> f64
  %v = arith.select %geometric, %g, %t : f64
  %x = arith.truncf %v : f64 to f32
  return %x : f32
}

// The f32 bit pattern on a line that is monotonic in the value (negative
// floats mirrored below zero; -0 and +0 meet).
func.func @ordered(%f: f32) -> i64 {
  %b = arith.bitcast %f : f32 to i32
  %w = arith.extsi %b : i32 to i64
  %c0 = arith.constant 0 : i64
  %mask = arith.constant 2147483647 : i64
  %mag = arith.andi %w, %mask : i64
  %neg = arith.cmpi slt, %w, %c0 : i64
  %m = arith.subi %c0, %mag : i64
  %o = arith.select %neg, %m, %mag : i64
  return %o : i64
}

// Distance in ulps between a and b; 0 for two NaNs, 2^32 for one NaN.
func.func @ulps(%a: f32, %b: f32) -> i64 {
  %oa = func.call @ordered(%a) : (f32) -> i64
  %ob = func.call @ordered(%b) : (f32) -> i64
  %d = arith.subi %oa, %ob : i64
  %c0 = arith.constant 0 : i64
  %nd = arith.subi %c0, %d : i64
  %abs = arith.maxsi %d, %nd : i64
  %nana = arith.cmpf uno, %a, %a : f32
  %nanb = arith.cmpf uno, %b, %b : f32
  %both = arith.andi %nana, %nanb : i1
  %one = arith.xori %nana, %nanb : i1
  %huge = arith.constant 4294967296 : i64
  %r1 = arith.select %one, %huge, %abs : i64
  %r = arith.select %both, %c0, %r1 : i64
  return %r : i64
}

// Prints "id, worst, ok".
func.func @report(%id: i64, %worst: i64, %bound: i64) {
  func.call @printI64(%id) : (i64) -> ()
  func.call @printComma() : () -> ()
  func.call @printI64(%worst) : (i64) -> ()
  func.call @printComma() : () -> ()
  %ok = arith.cmpi sle, %worst, %bound : i64
  %oki = arith.extui %ok : i1 to i64
  func.call @printI64(%oki) : (i64) -> ()
  func.call @printNewline() : () -> ()
  return
}

// Each @check_<fn>: the worst ulp distance of math.<fn> (f32, rewritten by
// the pass) from libm's <fn> over [lo, hi].
func.func private @tanh(f64) -> f64
func.func @check_tanh(%lo: f64, %hi: f64, %geometric: i1) -> i64 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 200000 : index
  %zero = arith.constant 0 : i64
  %worst = scf.for %i = %c0 to %n step %c1 iter_args(%m = %zero) -> (i64) {
    %x = func.call @point(%lo, %hi, %n, %i, %geometric) : (f64, f64, index, index, i1) -> f32
    %xd = arith.extf %x : f32 to f64
    %rd = func.call @tanh(%xd) : (f64) -> f64
    %r = arith.truncf %rd : f64 to f32
    %a = math.tanh %x : f32
    %u = func.call @ulps(%a, %r) : (f32, f32) -> i64
    %m2 = arith.maxsi %m, %u : i64
    scf.yield %m2 : i64
  }
  return %worst : i64
}

func.func private @exp(f64) -> f64
func.func @check_exp(%lo: f64, %hi: f64, %geometric: i1) -> i64 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 200000 : index
  %zero = arith.constant 0 : i64
  %worst = scf.for %i = %c0 to %n step %c1 iter_args(%m = %zero) -> (i64) {
    %x = func.call @point(%lo, %hi, %n, %i, %geometric) : (f64, f64, index, index, i1) -> f32
    %xd = arith.extf %x : f32 to f64
    %rd = func.call @exp(%xd) : (f64) -> f64
    %r = arith.truncf %rd : f64 to f32
    %a = math.exp %x : f32
    %u = func.call @ulps(%a, %r) : (f32, f32) -> i64
    %m2 = arith.maxsi %m, %u : i64
    scf.yield %m2 : i64
  }
  return %worst : i64
}

func.func private @expm1(f64) -> f64
func.func @check_expm1(%lo: f64, %hi: f64, %geometric: i1) -> i64 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 200000 : index
  %zero = arith.constant 0 : i64
  %worst = scf.for %i = %c0 to %n step %c1 iter_args(%m = %zero) -> (i64) {
    %x = func.call @point(%lo, %hi, %n, %i, %geometric) : (f64, f64, index, index, i1) -> f32
    %xd = arith.extf %x : f32 to f64
    %rd = func.call @expm1(%xd) : (f64) -> f64
    %r = arith.truncf %rd : f64 to f32
    %a = math.expm1 %x : f32
    %u = func.call @ulps(%a, %r) : (f32, f32) -> i64
    %m2 = arith.maxsi %m, %u : i64
    scf.yield %m2 : i64
  }
  return %worst : i64
}

func.func private @log(f64) -> f64
func.func @check_log(%lo: f64, %hi: f64, %geometric: i1) -> i64 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 200000 : index
  %zero = arith.constant 0 : i64
  %worst = scf.for %i = %c0 to %n step %c1 iter_args(%m = %zero) -> (i64) {
    %x = func.call @point(%lo, %hi, %n, %i, %geometric) : (f64, f64, index, index, i1) -> f32
    %xd = arith.extf %x : f32 to f64
    %rd = func.call @log(%xd) : (f64) -> f64
    %r = arith.truncf %rd : f64 to f32
    %a = math.log %x : f32
    %u = func.call @ulps(%a, %r) : (f32, f32) -> i64
    %m2 = arith.maxsi %m, %u : i64
    scf.yield %m2 : i64
  }
  return %worst : i64
}

func.func private @log1p(f64) -> f64
func.func @check_log1p(%lo: f64, %hi: f64, %geometric: i1) -> i64 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 200000 : index
  %zero = arith.constant 0 : i64
  %worst = scf.for %i = %c0 to %n step %c1 iter_args(%m = %zero) -> (i64) {
    %x = func.call @point(%lo, %hi, %n, %i, %geometric) : (f64, f64, index, index, i1) -> f32
    %xd = arith.extf %x : f32 to f64
    %rd = func.call @log1p(%xd) : (f64) -> f64
    %r = arith.truncf %rd : f64 to f32
    %a = math.log1p %x : f32
    %u = func.call @ulps(%a, %r) : (f32, f32) -> i64
    %m2 = arith.maxsi %m, %u : i64
    scf.yield %m2 : i64
  }
  return %worst : i64
}

func.func private @log2(f64) -> f64
func.func @check_log2(%lo: f64, %hi: f64, %geometric: i1) -> i64 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 200000 : index
  %zero = arith.constant 0 : i64
  %worst = scf.for %i = %c0 to %n step %c1 iter_args(%m = %zero) -> (i64) {
    %x = func.call @point(%lo, %hi, %n, %i, %geometric) : (f64, f64, index, index, i1) -> f32
    %xd = arith.extf %x : f32 to f64
    %rd = func.call @log2(%xd) : (f64) -> f64
    %r = arith.truncf %rd : f64 to f32
    %a = math.log2 %x : f32
    %u = func.call @ulps(%a, %r) : (f32, f32) -> i64
    %m2 = arith.maxsi %m, %u : i64
    scf.yield %m2 : i64
  }
  return %worst : i64
}

func.func private @erf(f64) -> f64
func.func @check_erf(%lo: f64, %hi: f64, %geometric: i1) -> i64 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 200000 : index
  %zero = arith.constant 0 : i64
  %worst = scf.for %i = %c0 to %n step %c1 iter_args(%m = %zero) -> (i64) {
    %x = func.call @point(%lo, %hi, %n, %i, %geometric) : (f64, f64, index, index, i1) -> f32
    %xd = arith.extf %x : f32 to f64
    %rd = func.call @erf(%xd) : (f64) -> f64
    %r = arith.truncf %rd : f64 to f32
    %a = math.erf %x : f32
    %u = func.call @ulps(%a, %r) : (f32, f32) -> i64
    %m2 = arith.maxsi %m, %u : i64
    scf.yield %m2 : i64
  }
  return %worst : i64
}

// Special values: infinities, NaN, zeros, overflow and underflow of exp;
// the result must be libm's exactly (0 ulps).
func.func @check_specials() -> i64 {
  %zero = arith.constant 0 : i64
  %x0 = arith.constant 0x7F800000 : f32
  %xd0 = arith.extf %x0 : f32 to f64
  %rd0 = func.call @tanh(%xd0) : (f64) -> f64
  %r0 = arith.truncf %rd0 : f64 to f32
  %a0 = math.tanh %x0 : f32
  %u0 = func.call @ulps(%a0, %r0) : (f32, f32) -> i64
  %m0 = arith.maxsi %zero, %u0 : i64
  %x1 = arith.constant 0xFF800000 : f32
  %xd1 = arith.extf %x1 : f32 to f64
  %rd1 = func.call @tanh(%xd1) : (f64) -> f64
  %r1 = arith.truncf %rd1 : f64 to f32
  %a1 = math.tanh %x1 : f32
  %u1 = func.call @ulps(%a1, %r1) : (f32, f32) -> i64
  %m1 = arith.maxsi %m0, %u1 : i64
  %x2 = arith.constant 0x7FC00000 : f32
  %xd2 = arith.extf %x2 : f32 to f64
  %rd2 = func.call @tanh(%xd2) : (f64) -> f64
  %r2 = arith.truncf %rd2 : f64 to f32
  %a2 = math.tanh %x2 : f32
  %u2 = func.call @ulps(%a2, %r2) : (f32, f32) -> i64
  %m2 = arith.maxsi %m1, %u2 : i64
  %x3 = arith.constant 0x00000000 : f32
  %xd3 = arith.extf %x3 : f32 to f64
  %rd3 = func.call @tanh(%xd3) : (f64) -> f64
  %r3 = arith.truncf %rd3 : f64 to f32
  %a3 = math.tanh %x3 : f32
  %u3 = func.call @ulps(%a3, %r3) : (f32, f32) -> i64
  %m3 = arith.maxsi %m2, %u3 : i64
  %x4 = arith.constant 0x7F800000 : f32
  %xd4 = arith.extf %x4 : f32 to f64
  %rd4 = func.call @exp(%xd4) : (f64) -> f64
  %r4 = arith.truncf %rd4 : f64 to f32
  %a4 = math.exp %x4 : f32
  %u4 = func.call @ulps(%a4, %r4) : (f32, f32) -> i64
  %m4 = arith.maxsi %m3, %u4 : i64
  %x5 = arith.constant 0xFF800000 : f32
  %xd5 = arith.extf %x5 : f32 to f64
  %rd5 = func.call @exp(%xd5) : (f64) -> f64
  %r5 = arith.truncf %rd5 : f64 to f32
  %a5 = math.exp %x5 : f32
  %u5 = func.call @ulps(%a5, %r5) : (f32, f32) -> i64
  %m5 = arith.maxsi %m4, %u5 : i64
  %x6 = arith.constant 100.0 : f32
  %xd6 = arith.extf %x6 : f32 to f64
  %rd6 = func.call @exp(%xd6) : (f64) -> f64
  %r6 = arith.truncf %rd6 : f64 to f32
  %a6 = math.exp %x6 : f32
  %u6 = func.call @ulps(%a6, %r6) : (f32, f32) -> i64
  %m6 = arith.maxsi %m5, %u6 : i64
  %x7 = arith.constant -100.0 : f32
  %xd7 = arith.extf %x7 : f32 to f64
  %rd7 = func.call @exp(%xd7) : (f64) -> f64
  %r7 = arith.truncf %rd7 : f64 to f32
  %a7 = math.exp %x7 : f32
  %u7 = func.call @ulps(%a7, %r7) : (f32, f32) -> i64
  %m7 = arith.maxsi %m6, %u7 : i64
  %x8 = arith.constant 0.0 : f32
  %xd8 = arith.extf %x8 : f32 to f64
  %rd8 = func.call @log(%xd8) : (f64) -> f64
  %r8 = arith.truncf %rd8 : f64 to f32
  %a8 = math.log %x8 : f32
  %u8 = func.call @ulps(%a8, %r8) : (f32, f32) -> i64
  %m8 = arith.maxsi %m7, %u8 : i64
  %x9 = arith.constant -1.0 : f32
  %xd9 = arith.extf %x9 : f32 to f64
  %rd9 = func.call @log(%xd9) : (f64) -> f64
  %r9 = arith.truncf %rd9 : f64 to f32
  %a9 = math.log %x9 : f32
  %u9 = func.call @ulps(%a9, %r9) : (f32, f32) -> i64
  %m9 = arith.maxsi %m8, %u9 : i64
  %x10 = arith.constant 0x7F800000 : f32
  %xd10 = arith.extf %x10 : f32 to f64
  %rd10 = func.call @log(%xd10) : (f64) -> f64
  %r10 = arith.truncf %rd10 : f64 to f32
  %a10 = math.log %x10 : f32
  %u10 = func.call @ulps(%a10, %r10) : (f32, f32) -> i64
  %m10 = arith.maxsi %m9, %u10 : i64
  %x11 = arith.constant 1.0 : f32
  %xd11 = arith.extf %x11 : f32 to f64
  %rd11 = func.call @log(%xd11) : (f64) -> f64
  %r11 = arith.truncf %rd11 : f64 to f32
  %a11 = math.log %x11 : f32
  %u11 = func.call @ulps(%a11, %r11) : (f32, f32) -> i64
  %m11 = arith.maxsi %m10, %u11 : i64
  %x12 = arith.constant 0x7F800000 : f32
  %xd12 = arith.extf %x12 : f32 to f64
  %rd12 = func.call @erf(%xd12) : (f64) -> f64
  %r12 = arith.truncf %rd12 : f64 to f32
  %a12 = math.erf %x12 : f32
  %u12 = func.call @ulps(%a12, %r12) : (f32, f32) -> i64
  %m12 = arith.maxsi %m11, %u12 : i64
  %x13 = arith.constant 0xFF800000 : f32
  %xd13 = arith.extf %x13 : f32 to f64
  %rd13 = func.call @erf(%xd13) : (f64) -> f64
  %r13 = arith.truncf %rd13 : f64 to f32
  %a13 = math.erf %x13 : f32
  %u13 = func.call @ulps(%a13, %r13) : (f32, f32) -> i64
  %m13 = arith.maxsi %m12, %u13 : i64
  return %m13 : i64
}

func.func @main() {
  %lin = arith.constant false
  %geo = arith.constant true
  // tanh: [-10.0, 10.0]
  %lo0 = arith.constant -1.000000e+01 : f64
  %hi0 = arith.constant 1.000000e+01 : f64
  %w0 = func.call @check_tanh(%lo0, %hi0, %lin) : (f64, f64, i1) -> i64
  %id0 = arith.constant 1 : i64
  %b0 = arith.constant 5 : i64
  func.call @report(%id0, %w0, %b0) : (i64, i64, i64) -> ()
  // exp: [-87.0, 88.0]
  %lo1 = arith.constant -8.700000e+01 : f64
  %hi1 = arith.constant 8.800000e+01 : f64
  %w1 = func.call @check_exp(%lo1, %hi1, %lin) : (f64, f64, i1) -> i64
  %id1 = arith.constant 2 : i64
  %b1 = arith.constant 2 : i64
  func.call @report(%id1, %w1, %b1) : (i64, i64, i64) -> ()
  // expm1: [-10.0, 10.0]
  %lo2 = arith.constant -1.000000e+01 : f64
  %hi2 = arith.constant 1.000000e+01 : f64
  %w2 = func.call @check_expm1(%lo2, %hi2, %lin) : (f64, f64, i1) -> i64
  %id2 = arith.constant 3 : i64
  %b2 = arith.constant 3 : i64
  func.call @report(%id2, %w2, %b2) : (i64, i64, i64) -> ()
  // log: [-80.0, 80.0] (exp of)
  %lo3 = arith.constant -8.000000e+01 : f64
  %hi3 = arith.constant 8.000000e+01 : f64
  %w3 = func.call @check_log(%lo3, %hi3, %geo) : (f64, f64, i1) -> i64
  %id3 = arith.constant 4 : i64
  %b3 = arith.constant 2 : i64
  func.call @report(%id3, %w3, %b3) : (i64, i64, i64) -> ()
  // log1p: [-0.99, 10.0]
  %lo4 = arith.constant -9.900000e-01 : f64
  %hi4 = arith.constant 1.000000e+01 : f64
  %w4 = func.call @check_log1p(%lo4, %hi4, %lin) : (f64, f64, i1) -> i64
  %id4 = arith.constant 5 : i64
  %b4 = arith.constant 3 : i64
  func.call @report(%id4, %w4, %b4) : (i64, i64, i64) -> ()
  // log2: [-80.0, 80.0] (exp of)
  %lo5 = arith.constant -8.000000e+01 : f64
  %hi5 = arith.constant 8.000000e+01 : f64
  %w5 = func.call @check_log2(%lo5, %hi5, %geo) : (f64, f64, i1) -> i64
  %id5 = arith.constant 6 : i64
  %b5 = arith.constant 2 : i64
  func.call @report(%id5, %w5, %b5) : (i64, i64, i64) -> ()
  // erf: [-5.0, 5.0]
  %lo6 = arith.constant -5.000000e+00 : f64
  %hi6 = arith.constant 5.000000e+00 : f64
  %w6 = func.call @check_erf(%lo6, %hi6, %lin) : (f64, f64, i1) -> i64
  %id6 = arith.constant 7 : i64
  %b6 = arith.constant 5 : i64
  func.call @report(%id6, %w6, %b6) : (i64, i64, i64) -> ()
  %ws = func.call @check_specials() : () -> i64
  %id7 = arith.constant 8 : i64
  %b7 = arith.constant 0 : i64
  func.call @report(%id7, %ws, %b7) : (i64, i64, i64) -> ()
  return
}
