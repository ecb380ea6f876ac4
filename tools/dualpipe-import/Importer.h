//===- Importer.h - an ONNX graph into the dualpipe input contract -*- C++ -*-===//
//
// The importer walks an ONNX graph (opset 13 or later) in node order and
// builds one `dualpipe.model` function on static tensors in linalg, tensor,
// arith and math ops. Every ONNX value is either a *host constant* (known
// at import: Constant nodes, integer initializers, shapes, and everything
// computed only from them, which is folded here) or an MLIR value. Floating
// initializers of rank >= 1 become `dualpipe.param` arguments named by
// their ONNX names (a PyTorch export's state_dict names).
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_TOOLS_IMPORT_IMPORTER_H
#define DUALPIPE_TOOLS_IMPORT_IMPORTER_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include <onnx/onnx_pb.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace dualpipe::import {

/// A tensor known at import time: integers (shapes, indices, booleans) or
/// floating point values, row-major.
struct HostTensor {
  bool isInt = true;
  bool isBool = false;
  std::vector<int64_t> shape;
  std::vector<int64_t> ints;
  std::vector<double> floats;

  int64_t numel() const;
  double at(int64_t k) const { return isInt ? double(ints[k]) : floats[k]; }
  int64_t intAt(int64_t k) const { return isInt ? ints[k] : int64_t(floats[k]); }
};

/// A named parameter lifted from an initializer, with its float32 values.
struct Param {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

struct Options {
  std::string file; ///< The model's path, for messages and locations.
  std::map<std::string, std::vector<int64_t>> inputShapes;
};

class Importer {
public:
  Importer(mlir::MLIRContext &ctx, const onnx::ModelProto &model,
           Options opts);

  /// Builds the model function into `module`; exits with a message on the
  /// first unsupported construct.
  mlir::func::FuncOp run(mlir::ModuleOp module);

  const std::vector<Param> &params() const { return params_; }

  // --- used by the op lowerings (Ops.cpp) -------------------------------
  [[noreturn]] void fail(const std::string &msg) const;
  mlir::OpBuilder &builder() { return b_; }
  mlir::Location loc() const { return loc_; }
  mlir::MLIRContext *ctx() { return &ctx_; }

  bool hasInput(const onnx::NodeProto &n, int i) const;
  bool isHost(const std::string &name) const;
  const HostTensor &host(const std::string &name) const;
  /// The host constant of input `i`, or an error naming the node and input.
  const HostTensor &hostInput(const onnx::NodeProto &n, int i,
                              const char *what) const;
  /// The MLIR value of `name` (host constants are materialized).
  mlir::Value value(const std::string &name);
  mlir::Value input(const onnx::NodeProto &n, int i) {
    return value(n.input(i));
  }
  void define(const std::string &name, mlir::Value v);
  void defineHost(const std::string &name, HostTensor t);
  void setOutput(const onnx::NodeProto &n, int i, mlir::Value v) {
    define(n.output(i), v);
  }

  int64_t attrInt(const onnx::NodeProto &n, const std::string &name,
                  int64_t def) const;
  float attrFloat(const onnx::NodeProto &n, const std::string &name,
                  float def) const;
  std::optional<std::vector<int64_t>>
  attrInts(const onnx::NodeProto &n, const std::string &name) const;
  const onnx::AttributeProto *attr(const onnx::NodeProto &n,
                                   const std::string &name) const;

  /// A node's name for messages: its name, or "#<index>" when it has none.
  std::string nodeLabel() const;
  const onnx::NodeProto *currentNode() const { return node_; }

  /// Records that an integer model input indexes a table of `rows` rows
  /// (dualpipe-run then draws synthetic ids from [0, rows)).
  void noteIndexRange(mlir::Value indices, int64_t rows);

private:
  void declareArguments(mlir::func::FuncOp fn);
  mlir::Type elementType(int32_t onnxType, const std::string &what) const;
  void importNode(const onnx::NodeProto &n, int index);
  bool foldOnHost(const onnx::NodeProto &n);
  /// The ONNX local function a node calls, or null.
  const onnx::FunctionProto *calledFunction(const onnx::NodeProto &n) const;
  /// A node calling an ONNX function: its body imported as a private
  /// `func.func` (specialized on the inputs known at import; bodies that
  /// come out identical are one function) and a `func.call` of it.
  void importCall(const onnx::NodeProto &n, const onnx::FunctionProto &f);
  /// Inlines the functions called once, from the model function.
  void inlineSingleCalls();
  /// Which formal inputs of `f` a gradient can flow through.
  const std::vector<bool> &differentiableFormals(const onnx::FunctionProto &f);
  std::set<std::string> differentiableValues(
      const google::protobuf::RepeatedPtrField<onnx::NodeProto> &nodes,
      std::set<std::string> live);

  mlir::MLIRContext &ctx_;
  const onnx::ModelProto &model_;
  Options opts_;
  mlir::OpBuilder b_;
  mlir::Location loc_;
  const onnx::NodeProto *node_ = nullptr;
  int nodeIndex_ = -1;
  std::map<std::string, mlir::Value> values_;
  std::map<std::string, HostTensor> hosts_;
  std::vector<Param> params_;
  mlir::func::FuncOp fn_;
  mlir::ModuleOp module_;
  mlir::func::FuncOp model_fn_;
  /// For each function being imported: its entry block and the caller's
  /// values of its arguments.
  std::vector<std::pair<mlir::Block *, std::vector<mlir::Value>>> callArgs_;
  /// "function 'D.F' (called by node 'N')" for each call being imported.
  std::vector<std::string> scopes_;
  std::set<const onnx::FunctionProto *> active_;
  std::map<const onnx::FunctionProto *, std::vector<bool>> formalsLive_;
  /// Imported function bodies (printed, name elided) -> their func.func.
  std::map<std::string, mlir::func::FuncOp> bodies_;
};

/// Reads an initializer or Constant tensor. Floating tensors of rank >= 1
/// come back as floats; `fail` reports unsupported types and external data.
HostTensor readTensor(const onnx::TensorProto &t,
                      const std::function<void(const std::string &)> &fail);

/// The op lowerings: op_type -> function. Ops.cpp.
using Lowering = std::function<void(Importer &, const onnx::NodeProto &)>;
const std::map<std::string, Lowering> &lowerings();
/// Host folding of ops whose inputs are all host constants; returns false
/// when `op` has no host rule. Ops.cpp.
bool foldHostOp(Importer &im, const onnx::NodeProto &n);

/// Appends a `dualpipe.loss` function for `kind` (cross_entropy or mse) on
/// the model's only output, with one label argument named `label`. Loss.cpp.
void appendLoss(mlir::ModuleOp module, mlir::func::FuncOp model,
                const std::string &kind, const std::string &label);

/// Writes float32 tensors in the safetensors format. Returns an error text
/// or "". dualpipe-import.cpp.
std::string writeSafeTensors(const std::string &path,
                             const std::vector<Param> &params);

} // namespace dualpipe::import

#endif // DUALPIPE_TOOLS_IMPORT_IMPORTER_H
