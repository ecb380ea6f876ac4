//===- Importer.cpp - the graph walk, values, initializers ---------------===//
//
// See Importer.h. The op lowerings are in Ops.cpp, the losses in Loss.cpp.
//
//===----------------------------------------------------------------------===//
#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/raw_ostream.h"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <algorithm>
#include <set>

using namespace mlir;

namespace dualpipe::import {

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

Importer::Importer(MLIRContext &ctx, const onnx::ModelProto &model,
                   Options opts)
    : ctx_(ctx), model_(model), opts_(std::move(opts)), b_(&ctx),
      loc_(FileLineColLoc::get(&ctx, opts_.file, 0, 0)) {}

void Importer::fail(const std::string &msg) const {
  std::cerr << "dualpipe-import: error: " << opts_.file;
  for (const std::string &scope : scopes_)
    std::cerr << ": in " << scope;
  if (node_)
    std::cerr << ": node " << nodeLabel() << " (" << node_->op_type() << ")";
  std::cerr << ": " << msg << "\n";
  std::exit(1);
}

std::string Importer::nodeLabel() const {
  if (!node_)
    return "";
  if (!node_->name().empty())
    return "'" + node_->name() + "'";
  return "#" + std::to_string(nodeIndex_);
}

Type Importer::elementType(int32_t t, const std::string &what) const {
  switch (t) {
  case onnx::TensorProto::FLOAT:
    return Float32Type::get(&ctx_);
  case onnx::TensorProto::INT64:
    return IntegerType::get(&ctx_, 64);
  case onnx::TensorProto::INT32:
    return IntegerType::get(&ctx_, 32);
  case onnx::TensorProto::BOOL:
    return IntegerType::get(&ctx_, 1);
  default:
    fail(what + " has element type " +
         onnx::TensorProto::DataType_Name(onnx::TensorProto::DataType(t)) +
         "; dualpipe-import supports float32, int64, int32 and bool (export "
         "the model in float32)");
  }
}

HostTensor readTensor(const onnx::TensorProto &t,
                      const std::function<void(const std::string &)> &fail) {
  HostTensor h;
  for (int64_t d : t.dims())
    h.shape.push_back(d);
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    fail("tensor '" + t.name() +
         "' keeps its data in an external file; save the model with its "
         "data inside (onnx.save_model(m, path, save_as_external_data=False))");
  int64_t n = h.numel();
  const std::string &raw = t.raw_data();
  auto fromRaw = [&](auto sample, auto &out) {
    using T = decltype(sample);
    if (raw.size() != size_t(n) * sizeof(T))
      fail("tensor '" + t.name() + "' has " + std::to_string(raw.size()) +
           " bytes of raw data, expected " + std::to_string(n * sizeof(T)));
    for (int64_t k = 0; k < n; ++k) {
      T v;
      std::memcpy(&v, raw.data() + k * sizeof(T), sizeof(T));
      out.push_back(v);
    }
  };
  switch (t.data_type()) {
  case onnx::TensorProto::FLOAT:
    h.isInt = false;
    if (!raw.empty())
      fromRaw(float(), h.floats);
    else
      h.floats.assign(t.float_data().begin(), t.float_data().end());
    break;
  case onnx::TensorProto::DOUBLE:
    h.isInt = false;
    if (!raw.empty())
      fromRaw(double(), h.floats);
    else
      h.floats.assign(t.double_data().begin(), t.double_data().end());
    break;
  case onnx::TensorProto::INT64:
    if (!raw.empty())
      fromRaw(int64_t(), h.ints);
    else
      h.ints.assign(t.int64_data().begin(), t.int64_data().end());
    break;
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::BOOL:
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT8:
    h.isBool = t.data_type() == onnx::TensorProto::BOOL;
    if (!raw.empty()) {
      if (t.data_type() == onnx::TensorProto::INT32)
        fromRaw(int32_t(), h.ints);
      else if (t.data_type() == onnx::TensorProto::INT8)
        fromRaw(int8_t(), h.ints);
      else
        fromRaw(uint8_t(), h.ints);
    } else {
      h.ints.assign(t.int32_data().begin(), t.int32_data().end());
    }
    break;
  default:
    fail("tensor '" + t.name() + "' has element type " +
         onnx::TensorProto::DataType_Name(
             onnx::TensorProto::DataType(t.data_type())) +
         ", which dualpipe-import does not read");
  }
  if (int64_t(h.isInt ? h.ints.size() : h.floats.size()) != n)
    fail("tensor '" + t.name() + "' holds " +
         std::to_string(h.isInt ? h.ints.size() : h.floats.size()) +
         " values for a shape of " + std::to_string(n) + " elements");
  return h;
}

/// Whether input `i` of `n` can carry a gradient to the node's outputs:
/// not the shapes, indices, axes and conditions of the ops that take them,
/// nor anything compared or measured.
static bool differentiableInput(const onnx::NodeProto &n, int i) {
  const std::string &op = n.op_type();
  if (op == "Shape" || op == "Equal" || op == "Less" || op == "Greater" ||
      op == "Not" || op == "ConstantOfShape" || op == "Range")
    return false;
  if (op == "Where")
    return i != 0;
  if (op == "Cast") {
    for (const onnx::AttributeProto &a : n.attribute())
      if (a.name() == "to")
        return a.i() == onnx::TensorProto::FLOAT ||
               a.i() == onnx::TensorProto::DOUBLE;
    return false;
  }
  return i == 0 || (op != "Gather" && op != "Reshape" && op != "Expand" &&
                    op != "Slice" && op != "Split" && op != "Squeeze" &&
                    op != "Unsqueeze" && op != "Trilu" && op != "Pow" &&
                    op != "ReduceSum" && op != "ReduceMean" &&
                    op != "ReduceMax" && op != "Dropout");
}

/// The values a gradient can flow from to one in `live` (the outputs of a
/// graph or function). A floating initializer outside it is a buffer, not a
/// parameter: nanoGPT's causal mask (a float tril buffer compared with 0)
/// becomes a host constant. A call of an ONNX function passes a gradient
/// through the inputs its body does.
std::set<std::string> Importer::differentiableValues(
    const google::protobuf::RepeatedPtrField<onnx::NodeProto> &nodes,
    std::set<std::string> live) {
  for (int k = nodes.size() - 1; k >= 0; --k) {
    const onnx::NodeProto &n = nodes[k];
    if (!std::any_of(n.output().begin(), n.output().end(),
                     [&](const std::string &o) { return live.count(o); }))
      continue;
    const onnx::FunctionProto *f = calledFunction(n);
    const std::vector<bool> *formals = f ? &differentiableFormals(*f) : nullptr;
    for (int i = 0; i < n.input_size(); ++i)
      if (!n.input(i).empty() &&
          (formals ? i < int(formals->size()) && (*formals)[i]
                   : differentiableInput(n, i)))
        live.insert(n.input(i));
  }
  return live;
}

const std::vector<bool> &
Importer::differentiableFormals(const onnx::FunctionProto &f) {
  auto it = formalsLive_.find(&f);
  if (it != formalsLive_.end())
    return it->second;
  // A function calling itself is refused when it is imported; here every
  // input of such a call counts as differentiable.
  formalsLive_[&f] = std::vector<bool>(f.input_size(), true);
  std::set<std::string> outs(f.output().begin(), f.output().end());
  std::set<std::string> live = differentiableValues(f.node(), outs);
  std::vector<bool> result;
  for (const std::string &in : f.input())
    result.push_back(live.count(in) != 0);
  return formalsLive_[&f] = result;
}

const onnx::FunctionProto *
Importer::calledFunction(const onnx::NodeProto &n) const {
  for (const onnx::FunctionProto &f : model_.functions())
    if (f.name() == n.op_type() && f.domain() == n.domain())
      return &f;
  return nullptr;
}

/// Graph inputs (less those that are initializers), then one parameter per
/// floating initializer of rank >= 1 that a gradient reaches; the rest of
/// the initializers are host constants.
void Importer::declareArguments(func::FuncOp fn) {
  const onnx::GraphProto &g = model_.graph();
  std::set<std::string> outputs;
  for (const onnx::ValueInfoProto &out : g.output())
    outputs.insert(out.name());
  std::set<std::string> live = differentiableValues(g.node(), outputs);
  std::set<std::string> inits;
  for (const onnx::TensorProto &t : g.initializer())
    inits.insert(t.name());
  struct Arg {
    Type type;
    std::string name;
    const char *kind;
  };
  std::vector<Arg> args;
  std::set<std::string> names;
  auto addArg = [&](Type t, const std::string &name, const char *kind) {
    if (!names.insert(name).second)
      fail("the name '" + name +
           "' is used by two graph inputs or initializers; every input "
           "and parameter needs its own name (rename one in the exporter)");
    args.push_back({t, name, kind});
  };
  for (const auto &[name, shape] : opts_.inputShapes)
    if (!std::any_of(g.input().begin(), g.input().end(),
                     [&, &name = name](const onnx::ValueInfoProto &in) {
                       return in.name() == name && !inits.count(name);
                     }))
      fail("--input-shape names '" + name + "', which is not a graph input");
  for (const onnx::ValueInfoProto &in : g.input()) {
    if (inits.count(in.name()))
      continue;
    const onnx::TypeProto &tp = in.type();
    if (!tp.has_tensor_type())
      fail("graph input '" + in.name() + "' is not a tensor");
    std::vector<int64_t> shape;
    auto given = opts_.inputShapes.find(in.name());
    const auto &dims = tp.tensor_type().shape().dim();
    if (given != opts_.inputShapes.end()) {
      shape = given->second;
      if (int64_t(shape.size()) != dims.size())
        fail("--input-shape gives '" + in.name() + "' rank " +
             std::to_string(shape.size()) + ", the graph says rank " +
             std::to_string(dims.size()));
      for (int k = 0; k < dims.size(); ++k)
        if (dims[k].has_dim_value() && dims[k].dim_value() != shape[k])
          fail("--input-shape gives dimension " + std::to_string(k) + " of '" +
               in.name() + "' as " + std::to_string(shape[k]) +
               ", the graph fixes it at " +
               std::to_string(dims[k].dim_value()));
    } else {
      for (const auto &d : dims) {
        if (d.has_dim_value() && d.dim_value() == 0)
          fail("graph input '" + in.name() + "' has a dimension of size 0; "
               "empty tensors are not supported (give the input at least "
               "one element per dimension)");
        if (!d.has_dim_value() || d.dim_value() <= 0)
          fail("graph input '" + in.name() + "' has a dynamic dimension '" +
               d.dim_param() +
               "'; give its static shape with --input-shape=" + in.name() +
               ":Dx... (one micro-batch)");
        shape.push_back(d.dim_value());
      }
    }
    Type et = elementType(tp.tensor_type().elem_type(),
                          "graph input '" + in.name() + "'");
    addArg(RankedTensorType::get(shape, et), in.name(), "dualpipe.input");
  }
  for (const onnx::TensorProto &t : g.initializer()) {
    HostTensor h = readTensor(t, [&](const std::string &m) { fail(m); });
    if (h.isInt || h.shape.empty() || !live.count(t.name())) {
      if (names.count(t.name()) || hosts_.count(t.name()))
        fail("initializer '" + t.name() + "' is defined twice");
      hosts_[t.name()] = std::move(h);
      continue;
    }
    if (t.data_type() != onnx::TensorProto::FLOAT)
      fail("initializer '" + t.name() +
           "' is not float32; export the model in float32");
    Param p{t.name(), h.shape, {}};
    p.values.assign(h.floats.begin(), h.floats.end());
    addArg(RankedTensorType::get(h.shape, Float32Type::get(&ctx_)), t.name(),
           "dualpipe.param");
    params_.push_back(std::move(p));
  }
  std::vector<Type> types;
  for (const Arg &a : args)
    types.push_back(a.type);
  fn.setType(FunctionType::get(&ctx_, types, {}));
  Block *body = fn.addEntryBlock();
  for (unsigned i = 0; i < args.size(); ++i) {
    fn.setArgAttr(i, args[i].kind, StringAttr::get(&ctx_, args[i].name));
    values_[args[i].name] = body->getArgument(i);
  }
}

func::FuncOp Importer::run(ModuleOp module) {
  const onnx::GraphProto &g = model_.graph();
  int64_t opset = -1;
  for (const auto &o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx")
      opset = o.version();
  if (opset < 13)
    fail("the model imports ONNX opset " + std::to_string(opset) +
         "; dualpipe-import reads opset 13 to 17 (re-export with "
         "torch.onnx.export(..., opset_version=17))");
  module_ = module;
  b_.setInsertionPointToEnd(module.getBody());
  fn_ = func::FuncOp::create(b_, loc_, "forward",
                             FunctionType::get(&ctx_, {}, {}));
  fn_->setAttr("dualpipe.model", UnitAttr::get(&ctx_));
  model_fn_ = fn_;
  declareArguments(fn_);
  b_.setInsertionPointToEnd(&fn_.getBody().front());
  for (int i = 0; i < g.node_size(); ++i)
    importNode(g.node(i), i);
  node_ = nullptr;
  std::vector<Value> results;
  std::vector<Type> types;
  for (const onnx::ValueInfoProto &out : g.output()) {
    if (!values_.count(out.name()) && !hosts_.count(out.name()))
      fail("graph output '" + out.name() + "' is never computed");
    if (isHost(out.name()))
      fail("graph output '" + out.name() +
           "' is a constant (it depends on no input or parameter)");
    results.push_back(value(out.name()));
    types.push_back(results.back().getType());
  }
  func::ReturnOp::create(b_, loc_, results);
  std::vector<Type> argTypes;
  for (BlockArgument a : fn_.getArguments())
    argTypes.push_back(a.getType());
  fn_.setType(FunctionType::get(&ctx_, argTypes, types));
  inlineSingleCalls();
  return fn_;
}

void Importer::importNode(const onnx::NodeProto &n, int index) {
  node_ = &n;
  nodeIndex_ = index;
  loc_ = NameLoc::get(
      StringAttr::get(&ctx_, n.name().empty() ? n.op_type() : n.name()),
      FileLineColLoc::get(&ctx_, opts_.file, index + 1, 0));
  if (const onnx::FunctionProto *f = calledFunction(n)) {
    importCall(n, *f);
    return;
  }
  if (!n.domain().empty() && n.domain() != "ai.onnx")
    fail("op '" + n.op_type() + "' of domain '" + n.domain() +
         "' is not supported; dualpipe-import reads the default ONNX "
         "domain only (export without custom ops)");
  for (int i = 0; i < n.input_size(); ++i)
    if (!n.input(i).empty() && !values_.count(n.input(i)) &&
        !hosts_.count(n.input(i)))
      fail("input '" + n.input(i) + "' is not defined before this node");
  if (foldOnHost(n))
    return;
  const auto &table = lowerings();
  auto it = table.find(n.op_type());
  if (it == table.end()) {
    std::string list;
    for (const auto &[name, fn] : table)
      list += (list.empty() ? "" : ", ") + name;
    list += "; folded at import: Constant, ConstantOfShape, Range, Shape";
    fail("unsupported op '" + n.op_type() +
         "': dualpipe-import has no lowering for it. Supported: " + list +
         ". Rewrite the module so the exporter emits supported ops, or add "
         "a lowering in tools/dualpipe-import/Ops.cpp");
  }
  it->second(*this, n);
  for (int i = 0; i < n.output_size(); ++i)
    if (!n.output(i).empty() && !values_.count(n.output(i)) &&
        !hosts_.count(n.output(i)))
      fail("output " + std::to_string(i) + " ('" + n.output(i) +
           "') is not produced by dualpipe-import's lowering (only the "
           "first output of this op is supported)");
}

/// Ops whose inputs are all host constants are evaluated here, so shape
/// computations (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) and
/// constant subgraphs leave no trace in the IR.
bool Importer::foldOnHost(const onnx::NodeProto &n) {
  if (n.op_type() == "Constant" || n.op_type() == "Shape")
    return foldHostOp(*this, n);
  bool any = false;
  for (int i = 0; i < n.input_size(); ++i) {
    if (n.input(i).empty())
      continue;
    if (!isHost(n.input(i)))
      return false;
    any = true;
  }
  return any && foldHostOp(*this, n);
}

bool Importer::hasInput(const onnx::NodeProto &n, int i) const {
  return i < n.input_size() && !n.input(i).empty();
}

bool Importer::isHost(const std::string &name) const {
  return hosts_.count(name) != 0;
}

const HostTensor &Importer::host(const std::string &name) const {
  auto it = hosts_.find(name);
  if (it == hosts_.end())
    fail("'" + name + "' is not a constant");
  return it->second;
}

const HostTensor &Importer::hostInput(const onnx::NodeProto &n, int i,
                                      const char *what) const {
  if (!hasInput(n, i))
    fail(std::string("the ") + what + " input is missing");
  if (!isHost(n.input(i)))
    fail(std::string("the ") + what + " ('" + n.input(i) +
         "') must be known at import time (a constant or computed from "
         "shapes and constants); dualpipe-import compiles static shapes only");
  return host(n.input(i));
}

Value Importer::value(const std::string &name) {
  auto it = values_.find(name);
  if (it != values_.end())
    return it->second;
  const HostTensor &h = host(name);
  // A constant used as a tensor: materialized at the top of the function,
  // once, so every user shares it.
  OpBuilder::InsertionGuard guard(b_);
  b_.setInsertionPointToStart(&fn_.getBody().front());
  Attribute attr;
  if (h.isBool) {
    auto t = RankedTensorType::get(h.shape, b_.getI1Type());
    SmallVector<bool> v;
    for (int64_t x : h.ints)
      v.push_back(x != 0);
    attr = DenseElementsAttr::get(t, ArrayRef<bool>(v));
  } else if (h.isInt) {
    auto t = RankedTensorType::get(h.shape, b_.getI64Type());
    attr = DenseElementsAttr::get(t, ArrayRef<int64_t>(h.ints));
  } else {
    auto t = RankedTensorType::get(h.shape, b_.getF32Type());
    std::vector<float> v(h.floats.begin(), h.floats.end());
    attr = DenseElementsAttr::get(t, ArrayRef<float>(v));
  }
  Value v = arith::ConstantOp::create(b_, loc_, cast<TypedAttr>(attr));
  values_[name] = v;
  return v;
}

void Importer::define(const std::string &name, Value v) {
  if (values_.count(name) || hosts_.count(name))
    fail("value '" + name + "' is defined twice (the graph is not in SSA "
         "form)");
  values_[name] = v;
}

void Importer::defineHost(const std::string &name, HostTensor t) {
  if (values_.count(name) || hosts_.count(name))
    fail("value '" + name + "' is defined twice (the graph is not in SSA "
         "form)");
  hosts_[name] = std::move(t);
}

const onnx::AttributeProto *Importer::attr(const onnx::NodeProto &n,
                                           const std::string &name) const {
  for (const onnx::AttributeProto &a : n.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t Importer::attrInt(const onnx::NodeProto &n, const std::string &name,
                          int64_t def) const {
  const onnx::AttributeProto *a = attr(n, name);
  return a ? a->i() : def;
}

float Importer::attrFloat(const onnx::NodeProto &n, const std::string &name,
                          float def) const {
  const onnx::AttributeProto *a = attr(n, name);
  return a ? a->f() : def;
}

std::optional<std::vector<int64_t>>
Importer::attrInts(const onnx::NodeProto &n, const std::string &name) const {
  const onnx::AttributeProto *a = attr(n, name);
  if (!a)
    return std::nullopt;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

void Importer::noteIndexRange(Value indices, int64_t rows) {
  auto arg = dyn_cast<BlockArgument>(indices);
  // An argument of a function being imported: the value its call passes.
  for (size_t k = callArgs_.size(); arg && k-- > 0;) {
    if (arg.getOwner() != callArgs_[k].first)
      return;
    arg = dyn_cast<BlockArgument>(callArgs_[k].second[arg.getArgNumber()]);
  }
  if (!arg || arg.getOwner() != &model_fn_.getBody().front())
    return;
  model_fn_.setArgAttr(arg.getArgNumber(), "dualpipe.int_range",
                 b_.getDenseI64ArrayAttr({0, rows}));
}

/// A call is one unit for the partitioner, so a function the model calls
/// once gains nothing and can cost the pipeline everything: with
/// export_modules_as_functions=True the whole model is one function (GPT)
/// called once from the graph. Such functions are inlined into the model
/// function, repeatedly (the blocks the whole-model function called are then
/// calls of the model function); functions called more than once stay.
void Importer::inlineSingleCalls() {
  for (bool changed = true; changed;) {
    changed = false;
    std::map<Operation *, std::vector<func::CallOp>> uses;
    module_.walk([&](func::CallOp call) {
      if (auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
              call, call.getCalleeAttr()))
        uses[callee].push_back(call);
    });
    for (auto &[op, calls] : uses) {
      func::CallOp call = calls.front();
      if (calls.size() != 1 || call->getParentOp() != fn_.getOperation())
        continue;
      auto callee = cast<func::FuncOp>(op);
      IRMapping map;
      Block &body = callee.getBody().front();
      for (auto [arg, operand] :
           llvm::zip(body.getArguments(), call.getOperands()))
        map.map(arg, operand);
      OpBuilder b(call);
      for (Operation &inner : body.without_terminator())
        b.clone(inner, map);
      auto ret = cast<func::ReturnOp>(body.getTerminator());
      for (auto [result, value] :
           llvm::zip(call.getResults(), ret.getOperands()))
        result.replaceAllUsesWith(map.lookupOrDefault(value));
      call.erase();
      for (auto it = bodies_.begin(); it != bodies_.end(); ++it)
        if (it->second == callee) {
          bodies_.erase(it);
          break;
        }
      callee.erase();
      changed = true;
      break;
    }
  }
}

/// A call of an ONNX local function (torch.onnx.export's
/// export_modules_as_functions). The body is imported in a scope of its
/// own: the call's inputs known at import (shapes, buffers such as the causal
/// mask, constants another call computed) stay host constants there and are
/// folded; the others become the arguments of a private `func.func`, whose
/// results are the outputs that are not host constants (a host output, e.g.
/// a shape constant PyTorch hoisted into the first block, goes back to the
/// caller as a host constant). `ref_attr_name` attributes take the call's
/// values. A body that comes out identical to one imported before (the same
/// types and ops: PyTorch's `Block` and `Block.1`, which differ only in such
/// hoisted constants) is that function, so a stack of equal blocks is one
/// function called once per block.
void Importer::importCall(const onnx::NodeProto &n,
                          const onnx::FunctionProto &f) {
  std::string qualified = (f.domain().empty() ? "" : f.domain() + ".") +
                          f.name();
  if (active_.count(&f))
    fail("function '" + qualified +
         "' calls itself; dualpipe-import needs a finite call tree (ONNX "
         "functions must not be recursive)");
  if (n.input_size() > f.input_size())
    fail("the call passes " + std::to_string(n.input_size()) +
         " inputs; function '" + qualified + "' takes " +
         std::to_string(f.input_size()));
  if (n.output_size() > f.output_size())
    fail("the call has " + std::to_string(n.output_size()) +
         " outputs; function '" + qualified + "' returns " +
         std::to_string(f.output_size()));
  std::map<std::string, const onnx::AttributeProto *> attrs;
  for (const onnx::AttributeProto &a : n.attribute()) {
    if (std::find(f.attribute().begin(), f.attribute().end(), a.name()) ==
        f.attribute().end())
      fail("the call gives attribute '" + a.name() + "', which function '" +
           qualified + "' does not declare");
    attrs[a.name()] = &a;
  }
  // The body's nodes, with attribute references resolved.
  std::vector<onnx::NodeProto> body(f.node().begin(), f.node().end());
  for (size_t k = 0; k < body.size(); ++k) {
    auto *list = body[k].mutable_attribute();
    for (int j = list->size() - 1; j >= 0; --j) {
      onnx::AttributeProto &a = (*list)[j];
      if (a.ref_attr_name().empty())
        continue;
      auto given = attrs.find(a.ref_attr_name());
      if (given == attrs.end()) {
        // An attribute the call does not give is absent (the op's default).
        list->DeleteSubrange(j, 1);
        continue;
      }
      std::string name = a.name();
      a = *given->second;
      a.set_name(name);
    }
  }

  // The caller's values of the inputs.
  std::vector<Value> actuals;
  std::map<std::string, Value> calleeValues;
  std::map<std::string, HostTensor> calleeHosts;
  std::vector<Type> argTypes;
  for (int i = 0; i < n.input_size(); ++i) {
    if (n.input(i).empty())
      continue;
    if (isHost(n.input(i))) {
      calleeHosts[f.input(i)] = host(n.input(i));
      continue;
    }
    Value v = value(n.input(i));
    actuals.push_back(v);
    argTypes.push_back(v.getType());
  }
  std::string callLabel = nodeLabel();

  // Import the body into a fresh function.
  auto savedValues = std::move(values_);
  auto savedHosts = std::move(hosts_);
  func::FuncOp savedFn = fn_;
  const onnx::NodeProto *savedNode = node_;
  int savedIndex = nodeIndex_;
  Location savedLoc = loc_;
  OpBuilder::InsertPoint callerPoint = b_.saveInsertionPoint();
  Location fnLoc = NameLoc::get(StringAttr::get(&ctx_, qualified), savedLoc);
  b_.setInsertionPoint(module_.getBody(), module_.getBody()->begin());
  func::FuncOp callee = func::FuncOp::create(
      b_, fnLoc, "__importing", FunctionType::get(&ctx_, argTypes, {}));
  callee.setPrivate();
  Block *entry = callee.addEntryBlock();
  values_.clear();
  hosts_ = std::move(calleeHosts);
  {
    unsigned a = 0;
    for (int i = 0; i < n.input_size(); ++i)
      if (!n.input(i).empty() && !hosts_.count(f.input(i)))
        values_[f.input(i)] = entry->getArgument(a++);
  }
  fn_ = callee;
  scopes_.push_back("function '" + qualified + "' (called by node " +
                    callLabel + ")");
  active_.insert(&f);
  callArgs_.push_back({entry, actuals});
  b_.setInsertionPointToEnd(entry);
  for (size_t k = 0; k < body.size(); ++k)
    importNode(body[k], int(k));
  node_ = nullptr;
  std::vector<Value> results;
  std::vector<std::optional<HostTensor>> hostOutputs;
  for (int i = 0; i < n.output_size(); ++i) {
    const std::string &out = f.output(i);
    if (!values_.count(out) && !hosts_.count(out))
      fail("output '" + out + "' of the function is never computed");
    if (isHost(out)) {
      hostOutputs.push_back(host(out));
      continue;
    }
    hostOutputs.push_back(std::nullopt);
    results.push_back(values_[out]);
  }
  std::vector<Type> resultTypes;
  for (Value v : results)
    resultTypes.push_back(v.getType());
  func::ReturnOp::create(b_, fnLoc, results);
  callee.setType(FunctionType::get(&ctx_, argTypes, resultTypes));
  active_.erase(&f);
  callArgs_.pop_back();
  scopes_.pop_back();
  values_ = std::move(savedValues);
  hosts_ = std::move(savedHosts);
  fn_ = savedFn;
  node_ = savedNode;
  nodeIndex_ = savedIndex;
  loc_ = savedLoc;
  b_.restoreInsertionPoint(callerPoint);

  // One function per distinct body.
  std::string text;
  {
    llvm::raw_string_ostream os(text);
    callee.print(os, OpPrintingFlags().useLocalScope().printGenericOpForm());
  }
  auto same = bodies_.find(text);
  if (same != bodies_.end()) {
    callee.erase();
    callee = same->second;
  } else {
    // PyTorch names a module class's second signature "Block.1": the
    // function is named after the class.
    std::string fname = f.name();
    size_t dot = fname.rfind('.');
    if (dot != std::string::npos && dot + 1 < fname.size() &&
        std::all_of(fname.begin() + dot + 1, fname.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      fname.resize(dot);
    std::string base;
    for (char c : fname)
      base += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    std::string name = base;
    for (int k = 1; SymbolTable::lookupSymbolIn(module_, name); ++k)
      name = base + "_" + std::to_string(k);
    callee.setSymName(name);
    bodies_[text] = callee;
  }
  auto call = func::CallOp::create(b_, loc_, callee, actuals);
  unsigned r = 0;
  for (int i = 0; i < n.output_size(); ++i) {
    if (n.output(i).empty()) {
      if (!hostOutputs[i])
        ++r;
      continue;
    }
    if (hostOutputs[i])
      defineHost(n.output(i), *hostOutputs[i]);
    else
      define(n.output(i), call.getResult(r++));
  }
}

} // namespace dualpipe::import
