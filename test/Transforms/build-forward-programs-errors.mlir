// RUN: dualpipe-opt %s --dualpipe-build-forward-programs -split-input-file -verify-diagnostics

// expected-error @+1 {{no dualpipe.pipeline op; run --dualpipe-partition first}}
module {
}

// -----

func.func @m(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.model} { return %x : tensor<4xf32> }
// expected-error @+1 {{bufferize first}}
func.func @m_stage0(%x: tensor<4xf32>) -> tensor<4xf32> { return %x : tensor<4xf32> }
dualpipe.pipeline "linear" ranks 1 stages [@m_stage0] on [0] model @m

// -----

func.func @s0() { return }
func.func @s1() { return }
// expected-error @+1 {{forward programs need a linear placement with one stage per rank, got 'interleaved' with 4 stages on 2 ranks}}
dualpipe.pipeline "interleaved" ranks 2 stages [@s0, @s1, @s0, @s1] on [0, 1, 0, 1]
