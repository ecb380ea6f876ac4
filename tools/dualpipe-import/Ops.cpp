//===- Ops.cpp - ONNX ops to linalg, tensor, arith and math ---------------===//
//
// One lowering per ONNX op, written with the ops the autodiff pass has
// rules for (docs/autodiff.md): elementwise ops and reductions as
// linalg.generic with projected-permutation maps (broadcast operands have
// their unit dimensions collapsed away first, so no map holds a constant),
// linalg.matmul / batch_matmul / transpose, tensor.expand_shape /
// collapse_shape for reshapes, extract_slice and concat, and gathers as a
// tensor.extract in a generic body.
//
// Host rules (foldHostOp) evaluate ops whose inputs are all known at import,
// which is how shape computations and constant subgraphs disappear.
//
//===----------------------------------------------------------------------===//
#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <numeric>

using namespace mlir;

namespace dualpipe::import {
namespace {

using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;
using Shape = std::vector<int64_t>;

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }
Shape shapeOf(Value v) {
  auto s = typeOf(v).getShape();
  return Shape(s.begin(), s.end());
}
std::string shapeText(ArrayRef<int64_t> s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i)
    t += (i ? "x" : "") + std::to_string(s[i]);
  return t + "]";
}

Value f32(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(v)));
}

Value empty(Importer &im, ArrayRef<int64_t> shape, Type et) {
  return tensor::EmptyOp::create(im.builder(), im.loc(), shape, et);
}

Value filled(Importer &im, ArrayRef<int64_t> shape, double v) {
  OpBuilder &b = im.builder();
  return linalg::FillOp::create(b, im.loc(), ValueRange{f32(b, im.loc(), v)},
                                ValueRange{empty(im, shape, b.getF32Type())})
      .getResult(0);
}

Value generic(Importer &im, ValueRange ins, Value init,
              ArrayRef<AffineMap> maps, ArrayRef<utils::IteratorType> iters,
              BodyFn body) {
  return linalg::GenericOp::create(
             im.builder(), im.loc(), TypeRange{init.getType()}, ins,
             ValueRange{init}, maps, iters,
             [&](OpBuilder &nb, Location nloc, ValueRange args) {
               linalg::YieldOp::create(nb, nloc,
                                       ValueRange{body(nb, nloc, args)});
             })
      ->getResult(0);
}

int64_t normAxis(Importer &im, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    im.fail("axis " + std::to_string(axis) + " is out of range for rank " +
            std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

int64_t product(ArrayRef<int64_t> s) {
  return std::accumulate(s.begin(), s.end(), int64_t(1),
                         std::multiplies<int64_t>());
}

/// `v` reshaped to `shape` (same element count) through one collapse to
/// rank 1 and one expand: both have autodiff rules, and canonicalization
/// folds the pair where a single reshape would do.
Value reshape(Importer &im, Value v, ArrayRef<int64_t> shape) {
  Shape from = shapeOf(v);
  if (ArrayRef<int64_t>(from) == shape)
    return v;
  if (product(from) != product(shape))
    im.fail("cannot reshape " + shapeText(from) + " to " + shapeText(shape));
  OpBuilder &b = im.builder();
  Type et = typeOf(v).getElementType();
  auto all = [](int64_t r) {
    ReassociationIndices g(r);
    std::iota(g.begin(), g.end(), 0);
    return SmallVector<ReassociationIndices>{g};
  };
  auto flatType = RankedTensorType::get({product(from)}, et);
  Value flat = v;
  if (from.size() != 1)
    flat = from.empty()
               ? Value(tensor::ExpandShapeOp::create(
                     b, im.loc(), flatType, v,
                     SmallVector<ReassociationIndices>{}))
               : Value(tensor::CollapseShapeOp::create(b, im.loc(), flatType,
                                                       v, all(from.size())));
  if (shape.size() == 1)
    return flat;
  auto to = RankedTensorType::get(shape, et);
  if (shape.empty())
    return tensor::CollapseShapeOp::create(b, im.loc(), to, flat,
                                           SmallVector<ReassociationIndices>{});
  return tensor::ExpandShapeOp::create(b, im.loc(), to, flat,
                                       all(shape.size()));
}

Shape broadcastShapes(Importer &im, const std::vector<Shape> &shapes) {
  size_t r = 0;
  for (const Shape &s : shapes)
    r = std::max(r, s.size());
  Shape out(r, 1);
  for (const Shape &s : shapes)
    for (size_t k = 0; k < s.size(); ++k) {
      int64_t &o = out[r - s.size() + k];
      if (s[k] == o || s[k] == 1)
        continue;
      if (o != 1) {
        std::string all;
        for (const Shape &t : shapes)
          all += (all.empty() ? "" : " and ") + shapeText(t);
        im.fail("shapes " + all + " do not broadcast");
      }
      o = s[k];
    }
  return out;
}

/// The splat value of a one-element constant tensor (a scalar operand
/// such as the 0.5 of PyTorch's GELU), to be written into a body as an
/// arith.constant instead of read from a rank-0 tensor.
std::optional<TypedAttr> scalarConstant(Value v) {
  auto c = v.getDefiningOp<arith::ConstantOp>();
  auto dense = c ? dyn_cast<DenseElementsAttr>(c.getValue()) : nullptr;
  if (!dense || dense.getNumElements() != 1)
    return std::nullopt;
  return cast<TypedAttr>(dense.getSplatValue<Attribute>());
}

/// An elementwise linalg.generic over `outShape` (numpy broadcasting of
/// the inputs); the body gets the inputs' scalars.
Value elementwise(Importer &im, ArrayRef<Value> ins, Shape outShape, Type et,
                  BodyFn body) {
  int64_t r = outShape.size();
  SmallVector<AffineMap> maps;
  SmallVector<Value> operands;
  SmallVector<std::optional<TypedAttr>> scalars;
  for (Value v : ins) {
    scalars.push_back(scalarConstant(v));
    if (scalars.back())
      continue;
    Shape s = shapeOf(v);
    Shape kept;
    SmallVector<AffineExpr> exprs;
    for (size_t k = 0; k < s.size(); ++k) {
      int64_t j = r - s.size() + k;
      if (s[k] == 1 && outShape[j] != 1)
        continue;
      kept.push_back(s[k]);
      exprs.push_back(getAffineDimExpr(j, im.ctx()));
    }
    operands.push_back(reshape(im, v, kept));
    maps.push_back(AffineMap::get(r, 0, exprs, im.ctx()));
  }
  maps.push_back(im.builder().getMultiDimIdentityMap(r));
  return generic(im, operands, empty(im, outShape, et), maps,
                 SmallVector<utils::IteratorType>(
                     r, utils::IteratorType::parallel),
                 [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                   SmallVector<Value> all;
                   size_t next = 0;
                   for (const auto &sc : scalars)
                     all.push_back(sc ? Value(arith::ConstantOp::create(
                                            b, l, *sc))
                                      : args[next++]);
                   return body(b, l, all);
                 });
}

Value elementwise(Importer &im, ArrayRef<Value> ins, Type et, BodyFn body) {
  std::vector<Shape> shapes;
  for (Value v : ins)
    shapes.push_back(shapeOf(v));
  return elementwise(im, ins, broadcastShapes(im, shapes), et, body);
}

Value requireFloat(Importer &im, Value v, const char *what) {
  if (!isa<FloatType>(typeOf(v).getElementType()))
    im.fail(std::string("the ") + what + " must be float32 here");
  return v;
}

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

void binary(Importer &im, const onnx::NodeProto &n) {
  Value a = im.input(n, 0), c = im.input(n, 1);
  Type et = typeOf(a).getElementType();
  // Pow alone may mix types (opset 12+): a float base with an integer
  // exponent, which is converted to the base's type.
  if (n.op_type() == "Pow" && isa<FloatType>(et) &&
      isa<IntegerType>(typeOf(c).getElementType()))
    c = elementwise(im, {c}, et,
                    [&](OpBuilder &b, Location l, ValueRange x) -> Value {
                      return arith::SIToFPOp::create(b, l, et, x[0]);
                    });
  if (et != typeOf(c).getElementType())
    im.fail("the inputs have different element types (" +
            std::string(isa<FloatType>(et) ? "float" : "integer") + " and " +
            (isa<FloatType>(typeOf(c).getElementType()) ? "float" : "integer") +
            "); insert a Cast");
  const std::string &op = n.op_type();
  bool isFloat = isa<FloatType>(et);
  if (!isFloat && op == "Pow")
    im.fail("integer Pow is not supported");
  im.setOutput(n, 0, elementwise(im, {a, c}, et,
                                 [&](OpBuilder &b, Location l,
                                     ValueRange x) -> Value {
    if (op == "Add")
      return isFloat ? Value(arith::AddFOp::create(b, l, x[0], x[1]))
                     : Value(arith::AddIOp::create(b, l, x[0], x[1]));
    if (op == "Sub")
      return isFloat ? Value(arith::SubFOp::create(b, l, x[0], x[1]))
                     : Value(arith::SubIOp::create(b, l, x[0], x[1]));
    if (op == "Mul")
      return isFloat ? Value(arith::MulFOp::create(b, l, x[0], x[1]))
                     : Value(arith::MulIOp::create(b, l, x[0], x[1]));
    if (op == "Div")
      return isFloat ? Value(arith::DivFOp::create(b, l, x[0], x[1]))
                     : Value(arith::DivSIOp::create(b, l, x[0], x[1]));
    return math::PowFOp::create(b, l, x[0], x[1]);
  }));
}

/// Pow with a constant scalar exponent: x*x for 2 (PyTorch's x**2 in
/// variance computations), sqrt for 0.5, powf otherwise.
void pow(Importer &im, const onnx::NodeProto &n) {
  if (!im.isHost(n.input(1)) || im.host(n.input(1)).numel() != 1)
    return binary(im, n);
  double e = im.host(n.input(1)).at(0);
  Value x = requireFloat(im, im.input(n, 0), "base");
  im.setOutput(n, 0, elementwise(im, {x}, typeOf(x).getElementType(),
                                 [&](OpBuilder &b, Location l,
                                     ValueRange a) -> Value {
    if (e == 2.0)
      return arith::MulFOp::create(b, l, a[0], a[0]);
    if (e == 1.0)
      return a[0];
    if (e == 0.5)
      return math::SqrtOp::create(b, l, a[0]);
    return math::PowFOp::create(b, l, a[0], f32(b, l, e));
  }));
}

void unary(Importer &im, const onnx::NodeProto &n) {
  Value x = requireFloat(im, im.input(n, 0), "input");
  const std::string &op = n.op_type();
  im.setOutput(n, 0, elementwise(im, {x}, typeOf(x).getElementType(),
                                 [&](OpBuilder &b, Location l,
                                     ValueRange a) -> Value {
    Value v = a[0];
    if (op == "Relu")
      return arith::MaximumFOp::create(b, l, v, f32(b, l, 0));
    if (op == "Tanh")
      return math::TanhOp::create(b, l, v);
    if (op == "Sigmoid") {
      Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, v));
      return arith::DivFOp::create(b, l, f32(b, l, 1),
                                   arith::AddFOp::create(b, l, f32(b, l, 1), e));
    }
    if (op == "Erf")
      return math::ErfOp::create(b, l, v);
    if (op == "Sqrt")
      return math::SqrtOp::create(b, l, v);
    if (op == "Exp")
      return math::ExpOp::create(b, l, v);
    if (op == "Log")
      return math::LogOp::create(b, l, v);
    if (op == "Neg")
      return arith::NegFOp::create(b, l, v);
    if (op == "Abs")
      return math::AbsFOp::create(b, l, v);
    // Reciprocal.
    return arith::DivFOp::create(b, l, f32(b, l, 1), v);
  }));
}

void identity(Importer &im, const onnx::NodeProto &n) {
  // Training mode with a ratio of 0 (known at import) drops nothing.
  bool noRatio = im.hasInput(n, 1) && im.isHost(n.input(1)) &&
                 im.host(n.input(1)).at(0) == 0;
  if (n.op_type() == "Dropout" && im.hasInput(n, 2) && !noRatio &&
      (!im.isHost(n.input(2)) || im.host(n.input(2)).at(0) != 0))
    im.fail("Dropout in training mode is not supported; export the model in "
            "eval mode (model.eval()): dualpipe-import reads Dropout with "
            "inference semantics, as the identity");
  im.setOutput(n, 0, im.input(n, 0));
}

/// Equal, Less, Greater: an i1 tensor.
void compare(Importer &im, const onnx::NodeProto &n) {
  Value a = im.input(n, 0), c = im.input(n, 1);
  bool isFloat = isa<FloatType>(typeOf(a).getElementType());
  const std::string &op = n.op_type();
  im.setOutput(n, 0, elementwise(im, {a, c}, im.builder().getI1Type(),
                                 [&](OpBuilder &b, Location l,
                                     ValueRange x) -> Value {
    if (isFloat)
      return arith::CmpFOp::create(b, l,
                                   op == "Equal"  ? arith::CmpFPredicate::OEQ
                                   : op == "Less" ? arith::CmpFPredicate::OLT
                                                  : arith::CmpFPredicate::OGT,
                                   x[0], x[1]);
    return arith::CmpIOp::create(b, l,
                                 op == "Equal"  ? arith::CmpIPredicate::eq
                                 : op == "Less" ? arith::CmpIPredicate::slt
                                                : arith::CmpIPredicate::sgt,
                                 x[0], x[1]);
  }));
}

void where(Importer &im, const onnx::NodeProto &n) {
  Value c = im.input(n, 0), x = im.input(n, 1), y = im.input(n, 2);
  im.setOutput(n, 0, elementwise(im, {c, x, y}, typeOf(x).getElementType(),
                                 [&](OpBuilder &b, Location l,
                                     ValueRange a) -> Value {
    return arith::SelectOp::create(b, l, a[0], a[1], a[2]);
  }));
}

void castOp(Importer &im, const onnx::NodeProto &n) {
  Value x = im.input(n, 0);
  Type from = typeOf(x).getElementType();
  int64_t to = im.attrInt(n, "to", 0);
  OpBuilder &b = im.builder();
  Type toType = to == onnx::TensorProto::FLOAT   ? Type(b.getF32Type())
                : to == onnx::TensorProto::INT64 ? Type(b.getI64Type())
                : to == onnx::TensorProto::BOOL  ? Type(b.getI1Type())
                                                 : Type();
  if (!toType)
    im.fail("Cast to " +
            onnx::TensorProto::DataType_Name(onnx::TensorProto::DataType(to)) +
            " is not supported (float32, int64 and bool are)");
  if (from == toType)
    return im.setOutput(n, 0, x);
  im.setOutput(n, 0, elementwise(im, {x}, toType,
                                 [&](OpBuilder &nb, Location l,
                                     ValueRange a) -> Value {
    if (isa<FloatType>(toType)) {
      if (from.isInteger(1))
        return arith::UIToFPOp::create(nb, l, toType, a[0]);
      return arith::SIToFPOp::create(nb, l, toType, a[0]);
    }
    if (isa<FloatType>(from))
      return toType.isInteger(1)
                 ? Value(arith::CmpFOp::create(nb, l,
                                               arith::CmpFPredicate::UNE, a[0],
                                               f32(nb, l, 0)))
                 : Value(arith::FPToSIOp::create(nb, l, toType, a[0]));
    if (toType.isInteger(1))
      return arith::CmpIOp::create(
          nb, l, arith::CmpIPredicate::ne, a[0],
          arith::ConstantOp::create(nb, l, nb.getIntegerAttr(from, 0)));
    return from.isInteger(1) ? Value(arith::ExtUIOp::create(nb, l, toType, a[0]))
                             : Value(arith::ExtSIOp::create(nb, l, toType, a[0]));
  }));
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

Value transpose(Importer &im, Value v, ArrayRef<int64_t> perm) {
  Shape s = shapeOf(v), out;
  for (int64_t p : perm)
    out.push_back(s[p]);
  return linalg::TransposeOp::create(
             im.builder(), im.loc(), v,
             empty(im, out, typeOf(v).getElementType()), perm)
      ->getResult(0);
}

Value matmul2d(Importer &im, Value a, Value c) {
  Shape sa = shapeOf(a), sc = shapeOf(c);
  Shape out{sa[0], sc[1]};
  return linalg::MatmulOp::create(im.builder(), im.loc(),
                                  TypeRange{RankedTensorType::get(
                                      out, im.builder().getF32Type())},
                                  ValueRange{a, c},
                                  ValueRange{filled(im, out, 0)})
      ->getResult(0);
}

/// ONNX MatMul (numpy matmul): rank-1 operands get a unit dimension; a
/// rank-2 right operand is shared by every batch (x·W of a linear layer on
/// [B, S, K]: the batch folded into rows); equal batch dimensions become
/// one batch_matmul, and so do batch dimensions that broadcast, after each
/// operand is expanded to the common batch shape.
void matmulOp(Importer &im, const onnx::NodeProto &n) {
  Value a = requireFloat(im, im.input(n, 0), "left operand");
  Value c = requireFloat(im, im.input(n, 1), "right operand");
  Shape sa = shapeOf(a), sc = shapeOf(c);
  if (sa.empty() || sc.empty())
    im.fail("MatMul of a scalar");
  bool vecA = sa.size() == 1, vecC = sc.size() == 1;
  if (vecA)
    sa.insert(sa.begin(), 1), a = reshape(im, a, sa);
  if (vecC)
    sc.push_back(1), c = reshape(im, c, sc);
  int64_t K = sa.back();
  if (sc[sc.size() - 2] != K)
    im.fail("MatMul of " + shapeText(sa) + " and " + shapeText(sc) +
            ": inner dimensions differ");
  int64_t M = sa[sa.size() - 2], N = sc.back();
  Shape batchA(sa.begin(), sa.end() - 2), batchC(sc.begin(), sc.end() - 2);
  Value r;
  Shape out;
  if (batchC.empty()) {
    Value rows = reshape(im, a, {product(batchA) * M, K});
    r = matmul2d(im, rows, c);
    out = batchA;
  } else if (batchA == batchC) {
    int64_t B = product(batchA);
    Value a3 = reshape(im, a, {B, M, K}), c3 = reshape(im, c, {B, K, N});
    Shape o3{B, M, N};
    r = linalg::BatchMatmulOp::create(
            im.builder(), im.loc(),
            TypeRange{RankedTensorType::get(o3, im.builder().getF32Type())},
            ValueRange{a3, c3}, ValueRange{filled(im, o3, 0)})
            ->getResult(0);
    out = batchA;
  } else {
    // Batch dimensions that differ broadcast (numpy): each operand is
    // expanded to the common batch shape by a broadcasting generic (its
    // gradient sums over the broadcast dimensions), then one batch_matmul.
    Shape batch = broadcastShapes(im, {batchA, batchC});
    auto expandTo = [&](Value v, int64_t rows, int64_t cols) {
      Shape to = batch;
      to.push_back(rows);
      to.push_back(cols);
      return elementwise(im, {v}, to, typeOf(v).getElementType(),
                         [](OpBuilder &, Location, ValueRange x) {
                           return x[0];
                         });
    };
    int64_t B = product(batch);
    Value a3 = reshape(im, expandTo(a, M, K), {B, M, K});
    Value c3 = reshape(im, expandTo(c, K, N), {B, K, N});
    Shape o3{B, M, N};
    r = linalg::BatchMatmulOp::create(
            im.builder(), im.loc(),
            TypeRange{RankedTensorType::get(o3, im.builder().getF32Type())},
            ValueRange{a3, c3}, ValueRange{filled(im, o3, 0)})
            ->getResult(0);
    out = batch;
  }
  if (!vecA)
    out.push_back(M);
  if (!vecC)
    out.push_back(N);
  im.setOutput(n, 0, reshape(im, r, out));
}

/// Gemm: alpha * A' B' + beta * C, A' and B' optionally transposed
/// (PyTorch's nn.Linear on 2-D input: transB = 1, the weight [out, in]).
void gemm(Importer &im, const onnx::NodeProto &n) {
  Value a = requireFloat(im, im.input(n, 0), "A");
  Value c = requireFloat(im, im.input(n, 1), "B");
  if (typeOf(a).getRank() != 2 || typeOf(c).getRank() != 2)
    im.fail("Gemm needs rank-2 A and B");
  if (im.attrInt(n, "transA", 0))
    a = transpose(im, a, {1, 0});
  if (im.attrInt(n, "transB", 0))
    c = transpose(im, c, {1, 0});
  if (shapeOf(a)[1] != shapeOf(c)[0])
    im.fail("Gemm: inner dimensions differ");
  Value y = matmul2d(im, a, c);
  float alpha = im.attrFloat(n, "alpha", 1), beta = im.attrFloat(n, "beta", 1);
  Type et = typeOf(y).getElementType();
  if (alpha != 1)
    y = elementwise(im, {y}, et, [&](OpBuilder &b, Location l, ValueRange x) {
      return Value(arith::MulFOp::create(b, l, x[0], f32(b, l, alpha)));
    });
  if (im.hasInput(n, 2) && beta != 0) {
    Value bias = requireFloat(im, im.input(n, 2), "C");
    y = elementwise(im, {y, bias}, shapeOf(y), et,
                    [&](OpBuilder &b, Location l, ValueRange x) -> Value {
                      Value s = beta == 1 ? x[1]
                                          : Value(arith::MulFOp::create(
                                                b, l, x[1], f32(b, l, beta)));
                      return arith::AddFOp::create(b, l, x[0], s);
                    });
  }
  im.setOutput(n, 0, y);
}

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

/// ONNX Reshape's target: 0 copies the input's dimension, -1 is inferred.
Shape reshapeTarget(Importer &im, const Shape &in, const HostTensor &t,
                    bool allowZero) {
  Shape out;
  int64_t infer = -1, known = 1;
  for (int64_t k = 0; k < t.numel(); ++k) {
    int64_t d = t.intAt(k);
    if (d == 0 && !allowZero) {
      if (size_t(k) >= in.size())
        im.fail("reshape target copies dimension " + std::to_string(k) +
                " of a rank-" + std::to_string(in.size()) + " input");
      d = in[k];
    }
    if (d == -1) {
      if (infer >= 0)
        im.fail("reshape target has two -1 dimensions");
      infer = k;
      out.push_back(1);
      continue;
    }
    out.push_back(d);
    known *= d;
  }
  if (infer >= 0)
    out[infer] = known ? product(in) / known : 0;
  if (product(out) != product(in))
    im.fail("cannot reshape " + shapeText(in) + " to " + shapeText(out));
  return out;
}

void reshapeOp(Importer &im, const onnx::NodeProto &n) {
  Value x = im.input(n, 0);
  Shape to = reshapeTarget(im, shapeOf(x), im.hostInput(n, 1, "shape"),
                           im.attrInt(n, "allowzero", 0));
  im.setOutput(n, 0, reshape(im, x, to));
}

/// Flatten's axis is in [-r, r] for rank r; a negative one counts from the
/// end (axis + r, not + r + 1: -1 keeps the last dimension alone).
Shape flattenShape(Importer &im, const onnx::NodeProto &n, const Shape &s) {
  int64_t r = s.size(), axis = im.attrInt(n, "axis", 1);
  if (axis < -r || axis > r)
    im.fail("Flatten axis " + std::to_string(axis) +
            " is out of range for rank " + std::to_string(r) +
            " (it must be in [-rank, rank])");
  if (axis < 0)
    axis += r;
  return {product(ArrayRef<int64_t>(s).take_front(axis)),
          product(ArrayRef<int64_t>(s).drop_front(axis))};
}

/// The axes of Squeeze/Unsqueeze/Reduce*: input 1 (opset 13+) or the
/// `axes` attribute.
std::optional<Shape> axesOf(Importer &im, const onnx::NodeProto &n,
                            int64_t rank) {
  std::optional<Shape> axes = im.attrInts(n, "axes");
  if (im.hasInput(n, 1)) {
    const HostTensor &t = im.hostInput(n, 1, "axes");
    axes = t.ints;
  }
  if (axes)
    for (int64_t &a : *axes)
      a = normAxis(im, a, rank);
  return axes;
}

Shape squeezeShape(Importer &im, const onnx::NodeProto &n, const Shape &s) {
  std::optional<Shape> axes = axesOf(im, n, s.size());
  Shape out;
  for (size_t k = 0; k < s.size(); ++k) {
    bool drop = axes ? std::count(axes->begin(), axes->end(), int64_t(k)) > 0
                     : s[k] == 1;
    if (drop && s[k] != 1)
      im.fail("cannot squeeze dimension " + std::to_string(k) + " of size " +
              std::to_string(s[k]));
    if (!drop)
      out.push_back(s[k]);
  }
  return out;
}

Shape unsqueezeShape(Importer &im, const onnx::NodeProto &n, const Shape &s) {
  if (!im.hasInput(n, 1) && !im.attrInts(n, "axes"))
    im.fail("Unsqueeze without axes");
  size_t r = s.size() + (im.hasInput(n, 1)
                             ? im.hostInput(n, 1, "axes").numel()
                             : int64_t(im.attrInts(n, "axes")->size()));
  std::optional<Shape> axes = axesOf(im, n, r);
  Shape out;
  size_t next = 0;
  for (size_t k = 0; k < r; ++k)
    out.push_back(std::count(axes->begin(), axes->end(), int64_t(k))
                      ? 1
                      : s[next++]);
  return out;
}

void shapeOnly(Importer &im, const onnx::NodeProto &n) {
  Value x = im.input(n, 0);
  Shape s = shapeOf(x);
  const std::string &op = n.op_type();
  Shape to = op == "Flatten"   ? flattenShape(im, n, s)
             : op == "Squeeze" ? squeezeShape(im, n, s)
                               : unsqueezeShape(im, n, s);
  im.setOutput(n, 0, reshape(im, x, to));
}

void transposeOp(Importer &im, const onnx::NodeProto &n) {
  Value x = im.input(n, 0);
  int64_t r = typeOf(x).getRank();
  Shape perm(r);
  std::iota(perm.rbegin(), perm.rend(), 0);
  if (auto p = im.attrInts(n, "perm"))
    perm = *p;
  im.setOutput(n, 0, transpose(im, x, perm));
}

void expandOp(Importer &im, const onnx::NodeProto &n) {
  Value x = im.input(n, 0);
  const HostTensor &t = im.hostInput(n, 1, "shape");
  Shape out = broadcastShapes(im, {shapeOf(x), t.ints});
  im.setOutput(n, 0, elementwise(im, {x}, out, typeOf(x).getElementType(),
                                 [](OpBuilder &, Location, ValueRange a) {
                                   return a[0];
                                 }));
}

/// One axis of an ONNX Slice after clamping: the first index, the number
/// of elements and the step.
struct SliceDim {
  int64_t start = 0, size = 0, step = 1;
};

/// ONNX Slice's start/end/step for a dimension of size `d`, as the operator
/// specifies: negative start and end count from the end (`+ d`), then for a
/// positive step start and end are clamped to [0, d], for a negative step
/// start to [0, d-1] and end to [-1, d-1]; the result has
/// ceil((end - start) / step) elements, or none. INT64_MIN/MAX ends (what
/// exporters write for "to the end") do not overflow.
SliceDim sliceDim(int64_t start, int64_t end, int64_t step, int64_t d) {
  auto norm = [d](int64_t v, int64_t lo, int64_t hi) {
    if (v < 0)
      v = v < -d ? lo : v + d;
    return std::min(std::max(v, lo), hi);
  };
  SliceDim r;
  r.step = step;
  if (step > 0) {
    r.start = norm(start, 0, d);
    int64_t e = norm(end, 0, d);
    r.size = e > r.start ? 1 + (e - r.start - 1) / step : 0;
  } else {
    r.start = norm(start, 0, d - 1);
    int64_t e = norm(end, -1, d - 1);
    uint64_t down = uint64_t(0) - uint64_t(step); // -step without overflow
    r.size = r.start > e ? int64_t(1 + uint64_t(r.start - e - 1) / down) : 0;
  }
  return r;
}

/// Clamps a start/end pair with step 1 (Shape's start and end attributes).
std::pair<int64_t, int64_t> sliceRange(int64_t start, int64_t end, int64_t d) {
  SliceDim r = sliceDim(start, end, 1, d);
  return {r.start, r.size};
}

/// x[offsets[k] : offsets[k] + sizes[k] * strides[k] : strides[k]] on every
/// axis, as one tensor.extract_slice (its gradient is an insert_slice into
/// zeros; a strided or inner-dimension one bufferizes to a copy on a
/// strided view, which --dualpipe-strided-copies-to-linalg lowers as loops).
Value slice(Importer &im, Value x, ArrayRef<int64_t> offsets,
            ArrayRef<int64_t> sizes, ArrayRef<int64_t> strides) {
  Shape s = shapeOf(x);
  bool whole = true;
  for (size_t k = 0; k < s.size(); ++k)
    whole &= offsets[k] == 0 && sizes[k] == s[k] && strides[k] == 1;
  if (whole)
    return x;
  OpBuilder &b = im.builder();
  auto attrs = [&](ArrayRef<int64_t> v) {
    SmallVector<OpFoldResult> r;
    for (int64_t i : v)
      r.push_back(b.getIndexAttr(i));
    return r;
  };
  return tensor::ExtractSliceOp::create(b, im.loc(), x, attrs(offsets),
                                        attrs(sizes), attrs(strides));
}

/// x[..., start:start+size, ...] along `axis`.
Value slice(Importer &im, Value x, int64_t axis, int64_t start, int64_t size) {
  Shape s = shapeOf(x);
  Shape offsets(s.size(), 0), strides(s.size(), 1), sizes = s;
  offsets[axis] = start;
  sizes[axis] = size;
  return slice(im, x, offsets, sizes, strides);
}

/// Slice's axes (input 3, default 0..k-1) normalized, each named once.
Shape sliceAxes(Importer &im, int64_t count,
                int64_t rank, const HostTensor *axes) {
  Shape out;
  for (int64_t k = 0; k < count; ++k) {
    int64_t a = axes ? normAxis(im, axes->intAt(k), rank) : k;
    if (!axes && k >= rank)
      im.fail("Slice has " + std::to_string(count) +
              " starts for a tensor of rank " + std::to_string(rank));
    if (std::count(out.begin(), out.end(), a))
      im.fail("Slice names axis " + std::to_string(a) +
              " twice; ONNX requires distinct axes");
    out.push_back(a);
  }
  return out;
}

/// Slice's step on the k-th axis (input 4, default 1); 0 is invalid.
int64_t sliceStep(Importer &im, const HostTensor *steps, int64_t k) {
  int64_t step = steps ? steps->intAt(k) : 1;
  if (step == 0)
    im.fail("Slice step 0 (entry " + std::to_string(k) +
            " of 'steps') is invalid in ONNX: steps must be nonzero");
  return step;
}

void sliceOp(Importer &im, const onnx::NodeProto &n) {
  Value x = im.input(n, 0);
  Shape s = shapeOf(x);
  const HostTensor &starts = im.hostInput(n, 1, "starts");
  const HostTensor &ends = im.hostInput(n, 2, "ends");
  if (ends.numel() != starts.numel())
    im.fail("Slice has " + std::to_string(starts.numel()) + " starts but " +
            std::to_string(ends.numel()) + " ends");
  const HostTensor *axesIn =
      im.hasInput(n, 3) ? &im.hostInput(n, 3, "axes") : nullptr;
  const HostTensor *stepsIn =
      im.hasInput(n, 4) ? &im.hostInput(n, 4, "steps") : nullptr;
  for (const HostTensor *t : {axesIn, stepsIn})
    if (t && t->numel() != starts.numel())
      im.fail("Slice's axes and steps must have one entry per start (" +
              std::to_string(starts.numel()) + ")");
  Shape axes = sliceAxes(im, starts.numel(), s.size(), axesIn);
  Shape offsets(s.size(), 0), strides(s.size(), 1), sizes = s;
  bool reversed = false;
  for (int64_t k = 0; k < starts.numel(); ++k) {
    int64_t axis = axes[k];
    int64_t step = sliceStep(im, stepsIn, k);
    reversed |= step < 0;
    SliceDim d = sliceDim(starts.intAt(k), ends.intAt(k), step, s[axis]);
    if (d.size == 0)
      im.fail("Slice selects no element on axis " + std::to_string(axis) +
              " (size " + std::to_string(s[axis]) + ", start " +
              std::to_string(starts.intAt(k)) + ", end " +
              std::to_string(ends.intAt(k)) +
              "): empty tensors are not supported; remove the slice");
    offsets[axis] = d.start;
    sizes[axis] = d.size;
    strides[axis] = step;
  }
  if (!reversed)
    return im.setOutput(n, 0, slice(im, x, offsets, sizes, strides));
  // A negative step (torch.flip): extract_slice has no negative strides, so
  // a gather over the output, out[i...] = x[offsets + i * strides], whose
  // gradient is the gathers' scatter-add.
  int64_t r = s.size();
  im.setOutput(
      n, 0,
      generic(im, ValueRange{}, empty(im, sizes, typeOf(x).getElementType()),
              {im.builder().getMultiDimIdentityMap(r)},
              SmallVector<utils::IteratorType>(r,
                                               utils::IteratorType::parallel),
              [&](OpBuilder &b, Location l, ValueRange) -> Value {
                SmallVector<Value> at;
                for (int64_t k = 0; k < r; ++k) {
                  Value i = linalg::IndexOp::create(b, l, k);
                  if (strides[k] != 1)
                    i = arith::MulIOp::create(
                        b, l, i,
                        arith::ConstantIndexOp::create(b, l, strides[k]));
                  if (offsets[k] != 0)
                    i = arith::AddIOp::create(
                        b, l, i,
                        arith::ConstantIndexOp::create(b, l, offsets[k]));
                  at.push_back(i);
                }
                return tensor::ExtractOp::create(b, l, x, at);
              }));
}

void splitOp(Importer &im, const onnx::NodeProto &n) {
  Value x = im.input(n, 0);
  Shape s = shapeOf(x);
  int64_t axis = normAxis(im, im.attrInt(n, "axis", 0), s.size());
  int64_t d = s[axis], parts = n.output_size();
  Shape sizes;
  if (im.hasInput(n, 1)) {
    sizes = im.hostInput(n, 1, "split").ints;
  } else if (auto a = im.attrInts(n, "split")) {
    sizes = *a;
  } else if (im.attr(n, "num_outputs")) {
    // Opset 18: ceil(d / num_outputs) each, the last one smaller.
    int64_t k = im.attrInt(n, "num_outputs", parts);
    if (k != parts)
      im.fail("Split's num_outputs is " + std::to_string(k) + " but the node "
              "has " + std::to_string(parts) + " outputs");
    int64_t each = (d + k - 1) / k;
    for (int64_t i = 0; i < k; ++i)
      sizes.push_back(std::max<int64_t>(std::min(each, d - i * each), 0));
  } else {
    if (d % parts != 0)
      im.fail("Split without 'split' into " + std::to_string(parts) +
              " equal parts of a dimension of size " + std::to_string(d) +
              ", which " + std::to_string(parts) +
              " does not divide; give the sizes as the 'split' input");
    sizes.assign(parts, d / parts);
  }
  if (int64_t(sizes.size()) != parts)
    im.fail("Split has " + std::to_string(sizes.size()) + " sizes for " +
            std::to_string(parts) + " outputs");
  for (int64_t v : sizes)
    if (v <= 0)
      im.fail("Split size " + std::to_string(v) +
              ": every part must have at least one element (empty tensors "
              "are not supported)");
  if (std::accumulate(sizes.begin(), sizes.end(), int64_t(0)) != d)
    im.fail("Split sizes do not add up to the dimension " + std::to_string(d));
  int64_t start = 0;
  for (int i = 0; i < parts; ++i) {
    im.setOutput(n, i, slice(im, x, axis, start, sizes[i]));
    start += sizes[i];
  }
}

void concatOp(Importer &im, const onnx::NodeProto &n) {
  SmallVector<Value> ins;
  for (int i = 0; i < n.input_size(); ++i)
    ins.push_back(im.input(n, i));
  int64_t axis = normAxis(im, im.attrInt(n, "axis", 0), typeOf(ins[0]).getRank());
  if (ins.size() == 1)
    return im.setOutput(n, 0, ins[0]);
  im.setOutput(n, 0,
               tensor::ConcatOp::create(im.builder(), im.loc(), axis, ins));
}

//===----------------------------------------------------------------------===//
// Reductions and normalization
//===----------------------------------------------------------------------===//

/// Sum (or max) over `axes` of x; the result drops those dimensions.
Value reduce(Importer &im, Value x, const std::vector<bool> &axes, bool isMax) {
  Shape s = shapeOf(x), out;
  SmallVector<AffineExpr> exprs;
  SmallVector<utils::IteratorType> iters;
  for (size_t k = 0; k < s.size(); ++k) {
    iters.push_back(axes[k] ? utils::IteratorType::reduction
                            : utils::IteratorType::parallel);
    if (!axes[k]) {
      out.push_back(s[k]);
      exprs.push_back(getAffineDimExpr(k, im.ctx()));
    }
  }
  AffineMap id = im.builder().getMultiDimIdentityMap(s.size());
  AffineMap red = AffineMap::get(s.size(), 0, exprs, im.ctx());
  return generic(im, x, filled(im, out, isMax ? -INFINITY : 0.0), {id, red},
                 iters, [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                   if (isMax)
                     return arith::MaximumFOp::create(b, l, a[1], a[0]);
                   return arith::AddFOp::create(b, l, a[1], a[0]);
                 });
}

/// x (reduced over `axes`) given back the unit dimensions of keepdims.
Value keepDims(Importer &im, Value r, const Shape &in,
               const std::vector<bool> &axes) {
  Shape kept;
  for (size_t k = 0; k < in.size(); ++k)
    kept.push_back(axes[k] ? 1 : in[k]);
  return reshape(im, r, kept);
}

Value scale(Importer &im, Value x, double factor) {
  return elementwise(im, {x}, typeOf(x).getElementType(),
                     [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                       return arith::MulFOp::create(b, l, a[0],
                                                    f32(b, l, factor));
                     });
}

void reduceOp(Importer &im, const onnx::NodeProto &n) {
  Value x = requireFloat(im, im.input(n, 0), "input");
  Shape s = shapeOf(x);
  std::optional<Shape> axes = axesOf(im, n, s.size());
  std::vector<bool> mask(s.size(), !axes || axes->empty());
  if (axes && axes->empty() && im.attrInt(n, "noop_with_empty_axes", 0))
    return im.setOutput(n, 0, x);
  int64_t count = 1;
  for (int64_t a : axes ? *axes : Shape{})
    mask[a] = true;
  for (size_t k = 0; k < s.size(); ++k)
    count *= mask[k] ? s[k] : 1;
  const std::string &op = n.op_type();
  Value r = reduce(im, x, mask, op == "ReduceMax");
  if (op == "ReduceMean")
    r = scale(im, r, 1.0 / double(count));
  if (im.attrInt(n, "keepdims", 1))
    r = keepDims(im, r, s, mask);
  im.setOutput(n, 0, r);
}

/// Softmax and LogSoftmax over one axis (opset 13), max-stabilised.
void softmax(Importer &im, const onnx::NodeProto &n) {
  Value x = requireFloat(im, im.input(n, 0), "input");
  Shape s = shapeOf(x);
  int64_t axis = normAxis(im, im.attrInt(n, "axis", -1), s.size());
  std::vector<bool> mask(s.size(), false);
  mask[axis] = true;
  Value m = keepDims(im, reduce(im, x, mask, true), s, mask);
  Type et = typeOf(x).getElementType();
  Value e = elementwise(im, {x, m}, et,
                        [](OpBuilder &b, Location l, ValueRange a) -> Value {
                          return math::ExpOp::create(
                              b, l, arith::SubFOp::create(b, l, a[0], a[1]));
                        });
  Value sum = keepDims(im, reduce(im, e, mask, false), s, mask);
  bool isLog = n.op_type() == "LogSoftmax";
  im.setOutput(n, 0, elementwise(im, isLog ? SmallVector<Value>{x, m, sum}
                                           : SmallVector<Value>{e, sum},
                                 et,
                                 [&](OpBuilder &b, Location l,
                                     ValueRange a) -> Value {
    if (!isLog)
      return arith::DivFOp::create(b, l, a[0], a[1]);
    Value shifted = arith::SubFOp::create(b, l, a[0], a[1]);
    return arith::SubFOp::create(b, l, shifted,
                                 math::LogOp::create(b, l, a[2]));
  }));
}

/// LayerNormalization (opset 17) over the axes from `axis` on:
/// (x - mean) / sqrt(var + eps) * scale + bias, var the biased variance;
/// the optional outputs Mean and InvStdDev (1 / sqrt(var + eps)) have the
/// input's shape with unit dimensions from `axis` on.
void layerNorm(Importer &im, const onnx::NodeProto &n) {
  Value x = requireFloat(im, im.input(n, 0), "input");
  Shape s = shapeOf(x);
  int64_t axis = normAxis(im, im.attrInt(n, "axis", -1), s.size());
  float eps = im.attrFloat(n, "epsilon", 1e-5f);
  std::vector<bool> mask(s.size(), false);
  int64_t count = 1;
  for (size_t k = axis; k < s.size(); ++k)
    mask[k] = true, count *= s[k];
  Type et = typeOf(x).getElementType();
  Value mean = keepDims(im, scale(im, reduce(im, x, mask, false), 1.0 / count),
                        s, mask);
  Value xc = elementwise(im, {x, mean}, et,
                         [](OpBuilder &b, Location l, ValueRange a) -> Value {
                           return arith::SubFOp::create(b, l, a[0], a[1]);
                         });
  Value sq = elementwise(im, {xc}, et,
                         [](OpBuilder &b, Location l, ValueRange a) -> Value {
                           return arith::MulFOp::create(b, l, a[0], a[0]);
                         });
  Value var = keepDims(im, scale(im, reduce(im, sq, mask, false), 1.0 / count),
                       s, mask);
  if (n.output_size() > 1 && !n.output(1).empty())
    im.setOutput(n, 1, mean);
  if (n.output_size() > 2 && !n.output(2).empty())
    im.setOutput(n, 2, elementwise(im, {var}, et,
                                   [&](OpBuilder &b, Location l,
                                       ValueRange a) -> Value {
      Value sd = math::SqrtOp::create(
          b, l, arith::AddFOp::create(b, l, a[0], f32(b, l, eps)));
      return arith::DivFOp::create(b, l, f32(b, l, 1), sd);
    }));
  SmallVector<Value> ins{xc, var, im.input(n, 1)};
  if (im.hasInput(n, 2))
    ins.push_back(im.input(n, 2));
  im.setOutput(n, 0, elementwise(im, ins, s, et,
                                 [&](OpBuilder &b, Location l,
                                     ValueRange a) -> Value {
    Value sd = math::SqrtOp::create(
        b, l, arith::AddFOp::create(b, l, a[1], f32(b, l, eps)));
    Value y = arith::MulFOp::create(
        b, l, arith::DivFOp::create(b, l, a[0], sd), a[2]);
    return a.size() > 3 ? Value(arith::AddFOp::create(b, l, y, a[3])) : y;
  }));
}

//===----------------------------------------------------------------------===//
// Gathers
//===----------------------------------------------------------------------===//

/// Gather: out[i..., j...] = data[..., idx[i...], ...] along `axis`, as a
/// generic over the output whose body extracts from `data` (an embedding
/// lookup when data is a [V, H] parameter).
void gather(Importer &im, const onnx::NodeProto &n) {
  Value data = im.input(n, 0), idx = im.input(n, 1);
  Shape ds = shapeOf(data), is = shapeOf(idx);
  int64_t axis = normAxis(im, im.attrInt(n, "axis", 0), ds.size());
  if (!isa<IntegerType>(typeOf(idx).getElementType()))
    im.fail("Gather indices must be integers");
  Shape out(ds.begin(), ds.begin() + axis);
  out.insert(out.end(), is.begin(), is.end());
  out.insert(out.end(), ds.begin() + axis + 1, ds.end());
  int64_t r = out.size(), ir = is.size();
  SmallVector<AffineExpr> idxExprs;
  for (int64_t k = 0; k < ir; ++k)
    idxExprs.push_back(getAffineDimExpr(axis + k, im.ctx()));
  AffineMap idxMap = AffineMap::get(r, 0, idxExprs, im.ctx());
  im.noteIndexRange(idx, ds[axis]);
  int64_t rows = ds[axis];
  Value g = generic(
      im, idx, empty(im, out, typeOf(data).getElementType()),
      {idxMap, im.builder().getMultiDimIdentityMap(r)},
      SmallVector<utils::IteratorType>(r, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value i = arith::IndexCastOp::create(b, l, b.getIndexType(), a[0]);
        // Negative indices count from the end, as ONNX says.
        Value zero = arith::ConstantIndexOp::create(b, l, 0);
        Value neg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, i,
                                          zero);
        Value wrapped = arith::AddIOp::create(
            b, l, i, arith::ConstantIndexOp::create(b, l, rows));
        i = arith::SelectOp::create(b, l, neg, wrapped, i);
        SmallVector<Value> at;
        for (int64_t k = 0; k < axis; ++k)
          at.push_back(linalg::IndexOp::create(b, l, k));
        at.push_back(i);
        for (int64_t k = axis + 1; k < int64_t(ds.size()); ++k)
          at.push_back(linalg::IndexOp::create(b, l, k - 1 + ir));
        return tensor::ExtractOp::create(b, l, data, at);
      });
  im.setOutput(n, 0, g);
}

/// Trilu on a tensor computed at run time: a select on the indices of the
/// last two dimensions.
void trilu(Importer &im, const onnx::NodeProto &n) {
  Value x = im.input(n, 0);
  Shape s = shapeOf(x);
  int64_t r = s.size(), k = 0;
  if (r < 2)
    im.fail("Trilu needs rank 2 or more");
  if (im.hasInput(n, 1))
    k = im.hostInput(n, 1, "k").intAt(0);
  bool upper = im.attrInt(n, "upper", 1);
  Type et = typeOf(x).getElementType();
  im.setOutput(n, 0, elementwise(im, {x}, s, et,
                                 [&](OpBuilder &b, Location l,
                                     ValueRange a) -> Value {
    Value i = arith::IndexCastOp::create(b, l, b.getI64Type(),
                                         linalg::IndexOp::create(b, l, r - 2));
    Value j = arith::IndexCastOp::create(b, l, b.getI64Type(),
                                         linalg::IndexOp::create(b, l, r - 1));
    Value ik = arith::AddIOp::create(
        b, l, i, arith::ConstantOp::create(b, l, b.getI64IntegerAttr(k)));
    // upper keeps j >= i + k, lower keeps j <= i + k.
    Value keep = arith::CmpIOp::create(
        b, l, upper ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle, j,
        ik);
    Value zero = isa<FloatType>(et)
                     ? f32(b, l, 0)
                     : Value(arith::ConstantOp::create(
                           b, l, b.getIntegerAttr(et, 0)));
    return arith::SelectOp::create(b, l, keep, a[0], zero);
  }));
}

//===----------------------------------------------------------------------===//
// Host rules: ops evaluated at import
//===----------------------------------------------------------------------===//

HostTensor intTensor(Shape shape, std::vector<int64_t> v) {
  HostTensor t;
  t.shape = std::move(shape);
  t.ints = std::move(v);
  return t;
}

/// Row-major index into `s` (broadcast from `out`) of the flat index `k`.
int64_t broadcastIndex(const Shape &s, const Shape &out, int64_t k) {
  int64_t idx = 0, stride = 1;
  for (int64_t d = out.size() - 1, sd = s.size() - 1; d >= 0; --d, --sd) {
    int64_t coord = k % out[d];
    k /= out[d];
    if (sd >= 0) {
      if (s[sd] != 1)
        idx += coord * stride;
      stride *= s[sd];
    }
  }
  return idx;
}

/// An elementwise host op with broadcasting; `f` maps the operands' values
/// (as doubles; integers stay exact below 2^53) to the result's.
HostTensor hostElementwise(Importer &im, const std::vector<const HostTensor *> &in,
                           bool intResult, bool boolResult,
                           const std::function<double(ArrayRef<double>)> &f) {
  std::vector<Shape> shapes;
  for (const HostTensor *t : in)
    shapes.push_back(t->shape);
  HostTensor r;
  r.shape = broadcastShapes(im, shapes);
  r.isInt = intResult;
  r.isBool = boolResult;
  int64_t n = product(r.shape);
  SmallVector<double> args(in.size());
  for (int64_t k = 0; k < n; ++k) {
    for (size_t i = 0; i < in.size(); ++i)
      args[i] = in[i]->at(broadcastIndex(in[i]->shape, r.shape, k));
    double v = f(args);
    if (intResult)
      r.ints.push_back(int64_t(v));
    else
      r.floats.push_back(v);
  }
  return r;
}

/// Elements of `t` along `axis` picked by `pick(j)` for j < count.
HostTensor hostTake(const HostTensor &t, int64_t axis, int64_t count,
                    const std::function<int64_t(int64_t)> &pick) {
  HostTensor r = t;
  r.ints.clear();
  r.floats.clear();
  r.shape[axis] = count;
  int64_t outer = product(ArrayRef<int64_t>(t.shape).take_front(axis));
  int64_t inner = product(ArrayRef<int64_t>(t.shape).drop_front(axis + 1));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < count; ++j)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t src = (o * t.shape[axis] + pick(j)) * inner + i;
        if (t.isInt)
          r.ints.push_back(t.ints[src]);
        else
          r.floats.push_back(t.floats[src]);
      }
  return r;
}

HostTensor constantValue(Importer &im, const onnx::NodeProto &n) {
  auto bad = [&](const std::string &m) { im.fail(m); };
  if (const onnx::AttributeProto *a = im.attr(n, "value"))
    return readTensor(a->t(), bad);
  if (const onnx::AttributeProto *a = im.attr(n, "value_float")) {
    HostTensor t;
    t.isInt = false;
    t.floats = {a->f()};
    return t;
  }
  if (const onnx::AttributeProto *a = im.attr(n, "value_int"))
    return intTensor({}, {a->i()});
  if (const onnx::AttributeProto *a = im.attr(n, "value_ints"))
    return intTensor({a->ints_size()},
                     std::vector<int64_t>(a->ints().begin(), a->ints().end()));
  if (const onnx::AttributeProto *a = im.attr(n, "value_floats")) {
    HostTensor t;
    t.isInt = false;
    t.shape = {a->floats_size()};
    t.floats.assign(a->floats().begin(), a->floats().end());
    return t;
  }
  im.fail("Constant without a supported value attribute (value, "
          "value_float(s), value_int(s))");
}

HostTensor hostShape(Importer &im, const onnx::NodeProto &n) {
  Shape s = im.isHost(n.input(0)) ? im.host(n.input(0)).shape
                                  : shapeOf(im.value(n.input(0)));
  int64_t r = s.size();
  int64_t start = im.attrInt(n, "start", 0), end = im.attrInt(n, "end", r);
  auto [from, count] = sliceRange(start, end, r);
  return intTensor({count}, Shape(s.begin() + from, s.begin() + from + count));
}

/// Arithmetic, comparisons and Where on host tensors.
bool hostArith(Importer &im, const onnx::NodeProto &n, HostTensor &out) {
  const std::string &op = n.op_type();
  std::vector<const HostTensor *> in;
  for (int i = 0; i < n.input_size(); ++i)
    in.push_back(&im.host(n.input(i)));
  bool isInt = in[0]->isInt;
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" ||
      op == "Pow") {
    out = hostElementwise(im, in, isInt, false, [&](ArrayRef<double> a) {
      if (op == "Add")
        return a[0] + a[1];
      if (op == "Sub")
        return a[0] - a[1];
      if (op == "Mul")
        return a[0] * a[1];
      if (op == "Div")
        return isInt ? std::trunc(a[0] / a[1]) : a[0] / a[1];
      return std::pow(a[0], a[1]);
    });
  } else if (op == "Equal" || op == "Less" || op == "Greater") {
    out = hostElementwise(im, in, true, true, [&](ArrayRef<double> a) {
      return double(op == "Equal" ? a[0] == a[1]
                    : op == "Less" ? a[0] < a[1]
                                   : a[0] > a[1]);
    });
  } else if (op == "Where") {
    out = hostElementwise(im, in, in[1]->isInt, in[1]->isBool,
                          [](ArrayRef<double> a) { return a[0] ? a[1] : a[2]; });
  } else if (op == "Neg" || op == "Sqrt" || op == "Not") {
    out = hostElementwise(im, in, isInt, in[0]->isBool,
                          [&](ArrayRef<double> a) {
                            return op == "Neg"    ? -a[0]
                                   : op == "Not" ? double(!a[0])
                                                 : std::sqrt(a[0]);
                          });
  } else if (op == "Cast") {
    int64_t to = im.attrInt(n, "to", 0);
    bool toInt = to != onnx::TensorProto::FLOAT &&
                 to != onnx::TensorProto::DOUBLE;
    out = hostElementwise(im, in, toInt, to == onnx::TensorProto::BOOL,
                          [&](ArrayRef<double> a) {
                            return to == onnx::TensorProto::BOOL
                                       ? double(a[0] != 0)
                                       : toInt ? std::trunc(a[0]) : a[0];
                          });
  } else {
    return false;
  }
  return true;
}

/// Shape-changing ops on host tensors.
bool hostShapeOp(Importer &im, const onnx::NodeProto &n, HostTensor &out) {
  const std::string &op = n.op_type();
  const HostTensor &x = im.host(n.input(0));
  out = x;
  if (op == "Identity" || op == "Dropout")
    return true;
  if (op == "Reshape")
    out.shape = reshapeTarget(im, x.shape, im.host(n.input(1)),
                              im.attrInt(n, "allowzero", 0));
  else if (op == "Flatten")
    out.shape = flattenShape(im, n, x.shape);
  else if (op == "Squeeze")
    out.shape = squeezeShape(im, n, x.shape);
  else if (op == "Unsqueeze")
    out.shape = unsqueezeShape(im, n, x.shape);
  else if (op == "Expand") {
    // Broadcast against a tensor of the target shape (its values unused).
    HostTensor target;
    target.shape = broadcastShapes(im, {x.shape, im.host(n.input(1)).ints});
    target.ints.assign(product(target.shape), 0);
    out = hostElementwise(im, {&x, &target}, x.isInt, x.isBool,
                          [](ArrayRef<double> a) { return a[0]; });
  } else
    return false;
  return true;
}

bool hostIndexing(Importer &im, const onnx::NodeProto &n, HostTensor &out) {
  const std::string &op = n.op_type();
  if (op == "Gather") {
    const HostTensor &x = im.host(n.input(0)), &idx = im.host(n.input(1));
    int64_t axis = normAxis(im, im.attrInt(n, "axis", 0), x.shape.size());
    int64_t d = x.shape[axis];
    out = hostTake(x, axis, idx.numel(), [&](int64_t j) {
      int64_t i = idx.intAt(j);
      return i < 0 ? i + d : i;
    });
    Shape s(x.shape.begin(), x.shape.begin() + axis);
    s.insert(s.end(), idx.shape.begin(), idx.shape.end());
    s.insert(s.end(), x.shape.begin() + axis + 1, x.shape.end());
    out.shape = s;
  } else if (op == "Slice") {
    out = im.host(n.input(0));
    const HostTensor &starts = im.host(n.input(1)), &ends = im.host(n.input(2));
    for (int64_t k = 0; k < starts.numel(); ++k) {
      int64_t axis = im.hasInput(n, 3) ? normAxis(im, im.host(n.input(3)).intAt(k),
                                                  out.shape.size())
                                       : k;
      int64_t step = sliceStep(
          im, im.hasInput(n, 4) ? &im.host(n.input(4)) : nullptr, k);
      SliceDim d =
          sliceDim(starts.intAt(k), ends.intAt(k), step, out.shape[axis]);
      out = hostTake(out, axis, d.size,
                     [&](int64_t j) { return d.start + j * d.step; });
    }
  } else if (op == "Concat") {
    const HostTensor &first = im.host(n.input(0));
    int64_t axis = normAxis(im, im.attrInt(n, "axis", 0), first.shape.size());
    if (axis != 0 || first.shape.size() != 1)
      return false;
    out = first;
    for (int i = 1; i < n.input_size(); ++i) {
      const HostTensor &t = im.host(n.input(i));
      if (t.isInt != out.isInt)
        im.fail("Concat of integer and floating tensors");
      out.ints.insert(out.ints.end(), t.ints.begin(), t.ints.end());
      out.floats.insert(out.floats.end(), t.floats.begin(), t.floats.end());
      out.shape[0] += t.numel();
    }
  } else if (op == "ConstantOfShape") {
    const HostTensor &s = im.host(n.input(0));
    out = intTensor(s.ints, {});
    HostTensor v = intTensor({}, {0});
    v.isInt = false, v.floats = {0.0}, v.ints.clear();
    if (const onnx::AttributeProto *a = im.attr(n, "value"))
      v = readTensor(a->t(), [&](const std::string &m) { im.fail(m); });
    out.isInt = v.isInt, out.isBool = v.isBool;
    int64_t count = product(s.ints);
    if (v.isInt)
      out.ints.assign(count, v.ints[0]);
    else
      out.floats.assign(count, v.floats[0]);
  } else if (op == "Range") {
    double start = im.host(n.input(0)).at(0), limit = im.host(n.input(1)).at(0),
           delta = im.host(n.input(2)).at(0);
    out = HostTensor();
    out.isInt = im.host(n.input(0)).isInt;
    int64_t count = std::max<int64_t>(
        int64_t(std::ceil((limit - start) / delta)), 0);
    out.shape = {count};
    for (int64_t k = 0; k < count; ++k)
      out.isInt ? out.ints.push_back(int64_t(start + k * delta))
                : out.floats.push_back(start + k * delta);
  } else {
    return false;
  }
  return true;
}

} // namespace

bool foldHostOp(Importer &im, const onnx::NodeProto &n) {
  HostTensor out;
  if (n.op_type() == "Constant")
    out = constantValue(im, n);
  else if (n.op_type() == "Shape")
    out = hostShape(im, n);
  else if (!hostArith(im, n, out) && !hostShapeOp(im, n, out) &&
           !hostIndexing(im, n, out))
    return false;
  im.defineHost(n.output(0), std::move(out));
  return true;
}

const std::map<std::string, Lowering> &lowerings() {
  static const std::map<std::string, Lowering> table = {
      {"Abs", unary},          {"Add", binary},
      {"Cast", castOp},        {"Concat", concatOp},
      {"Div", binary},         {"Dropout", identity},
      {"Equal", compare},      {"Erf", unary},
      {"Exp", unary},          {"Expand", expandOp},
      {"Flatten", shapeOnly},  {"Gather", gather},
      {"Gemm", gemm},          {"Greater", compare},
      {"Identity", identity},  {"LayerNormalization", layerNorm},
      {"Less", compare},       {"Log", unary},
      {"LogSoftmax", softmax}, {"MatMul", matmulOp},
      {"Mul", binary},         {"Neg", unary},
      {"Pow", pow},            {"Reciprocal", unary},
      {"ReduceMax", reduceOp}, {"ReduceMean", reduceOp},
      {"ReduceSum", reduceOp}, {"Relu", unary},
      {"Reshape", reshapeOp},  {"Sigmoid", unary},
      {"Slice", sliceOp},      {"Softmax", softmax},
      {"Split", splitOp},      {"Sqrt", unary},
      {"Squeeze", shapeOnly},  {"Sub", binary},
      {"Tanh", unary},         {"Transpose", transposeOp},
      {"Trilu", trilu},        {"Unsqueeze", shapeOnly},
      {"Where", where},
  };
  return table;
}

} // namespace dualpipe::import
