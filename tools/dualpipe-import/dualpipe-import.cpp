//===- dualpipe-import.cpp - ONNX models into the dualpipe input contract -===//
//
//   dualpipe-import MODEL.onnx -o MODEL.mlir [--params=PARAMS.safetensors]
//       [--loss=cross_entropy|mse|none] [--label=NAME]
//       [--input-shape=NAME:DxD...]
//
// Reads the model with libonnx's protobuf classes, builds the model function
// (Importer), appends the loss (Loss.cpp), canonicalizes, checks the result
// with the same --dualpipe-check-contract pass dualpipe-compile runs, and
// writes the MLIR and the parameters' values. docs/import.md has the details.
//
//===----------------------------------------------------------------------===//
#include "Importer.h"

#include "dualpipe/Analysis/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

using namespace mlir;
using namespace dualpipe::import;

namespace {

const char *kUsage =
    R"(usage: dualpipe-import MODEL.onnx -o MODEL.mlir [options]

Imports an ONNX model (opset 13 to 17, e.g. from torch.onnx.export) as one
micro-batch in the dualpipe input contract: a dualpipe.model function on
static shapes, the graph inputs as dualpipe.input arguments, the floating
initializers as dualpipe.param arguments under their ONNX names (a PyTorch
export's state_dict names), and a dualpipe.loss function.

options:
  -o FILE                 the MLIR to write (default: standard output)
  --params=FILE           write the parameters' values (float32) as safetensors
  --loss=KIND             cross_entropy (integer class labels [rows...] against
                          logits [rows..., C], mean over rows), mse (mean over
                          elements, against a float label of the output's
                          shape) or none (no loss function: choose one at
                          dualpipe-compile, or compile forward only); default none
  --label=NAME            the label's name in the data files (default y)
  --input-shape=NAME:DxD  the static shape of a graph input with dynamic
                          dimensions (one micro-batch); repeat for several
)";

[[noreturn]] void fail(const std::string &msg) {
  std::cerr << "dualpipe-import: error: " << msg << "\n";
  std::exit(1);
}

struct Args {
  std::string model, out, params, loss = "none", label = "y";
  std::map<std::string, std::vector<int64_t>> shapes;
};

std::vector<int64_t> parseDims(const std::string &arg, const std::string &s) {
  std::vector<int64_t> dims;
  std::stringstream in(s);
  std::string d;
  while (std::getline(in, d, 'x')) {
    char *end = nullptr;
    long long v = std::strtoll(d.c_str(), &end, 10);
    if (d.empty() || *end || v <= 0)
      fail("--input-shape: '" + arg +
           "' needs positive dimensions separated by 'x', e.g. x:8x16");
    dims.push_back(v);
  }
  return dims;
}

Args parseArgs(int argc, char **argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto value = [&](const char *flag) -> std::optional<std::string> {
      size_t n = std::strlen(flag);
      if (s.compare(0, n, flag) == 0 && s.size() > n && s[n] == '=')
        return s.substr(n + 1);
      return std::nullopt;
    };
    if (s == "--help" || s == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (s == "-o") {
      if (++i >= argc)
        fail("-o needs a file name");
      a.out = argv[i];
    } else if (auto v = value("--params")) {
      a.params = *v;
    } else if (auto v = value("--loss")) {
      a.loss = *v;
      if (a.loss != "cross_entropy" && a.loss != "mse" && a.loss != "none")
        fail("--loss must be cross_entropy, mse or none, got '" + a.loss + "'");
    } else if (auto v = value("--label")) {
      a.label = *v;
    } else if (auto v = value("--input-shape")) {
      size_t colon = v->rfind(':');
      if (colon == std::string::npos || colon == 0)
        fail("--input-shape needs NAME:DxD..., got '" + *v + "'");
      a.shapes[v->substr(0, colon)] = parseDims(*v, v->substr(colon + 1));
    } else if (s.size() > 1 && s[0] == '-') {
      fail("unknown option '" + s + "' (see dualpipe-import --help)");
    } else if (a.model.empty()) {
      a.model = s;
    } else {
      fail("one model file expected, got '" + a.model + "' and '" + s + "'");
    }
  }
  if (a.model.empty())
    fail("no model file given (see dualpipe-import --help)");
  return a;
}

onnx::ModelProto readModel(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path + ": cannot open: " + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  onnx::ModelProto model;
  if (bytes.empty() || !model.ParseFromString(bytes) || !model.has_graph())
    fail(path + ": not an ONNX model (the file does not parse as an ONNX "
                "ModelProto with a graph; truncated, or another format)");
  return model;
}

/// Canonicalizes (the reshape pairs of Ops.cpp fold) and runs the contract
/// check dualpipe-compile runs, so a model that imports also compiles.
void finish(ModuleOp module, const Args &a) {
  if (failed(verify(module))) {
    module->print(llvm::errs());
    fail(a.model + ": the imported IR does not verify (a bug in "
                   "dualpipe-import; the IR is above)");
  }
  PassManager pm(module.getContext());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  dualpipe::DualPipeCheckContractOptions check;
  check.forwardOnly = a.loss == "none";
  pm.addPass(dualpipe::createDualPipeCheckContract(check));
  if (failed(pm.run(module)))
    fail(a.model + ": the imported model breaks the input contract (above)");
}

} // namespace

int main(int argc, char **argv) {
  GOOGLE_PROTOBUF_VERIFY_VERSION;
  Args a = parseArgs(argc, argv);
  onnx::ModelProto proto = readModel(a.model);

  MLIRContext ctx;
  ctx.loadDialect<func::FuncDialect, linalg::LinalgDialect,
                  tensor::TensorDialect, arith::ArithDialect,
                  math::MathDialect, affine::AffineDialect,
                  dualpipe::DualPipeDialect>();
  OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&ctx));

  Importer importer(ctx, proto, Options{a.model, a.shapes});
  func::FuncOp model = importer.run(*module);
  if (a.loss != "none") {
    if (model.getNumResults() != 1)
      fail(a.model + ": --loss=" + a.loss + " needs one graph output, the "
           "model has " + std::to_string(model.getNumResults()));
    auto t = cast<RankedTensorType>(model.getResultTypes()[0]);
    if (!t.getElementType().isF32() ||
        (a.loss == "cross_entropy" && t.getRank() < 1))
      fail(a.model + ": --loss=" + a.loss + " needs a float32 output" +
           (a.loss == "cross_entropy" ? " of rank >= 1 (logits [..., C])"
                                      : ""));
    for (BlockArgument arg : model.getArguments())
      for (const char *kind : {"dualpipe.input", "dualpipe.param"})
        if (auto n = model.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                        kind))
          if (n.getValue() == a.label)
            fail(a.model + ": the label name '" + a.label +
                 "' is already a graph input or parameter; choose another "
                 "with --label=NAME");
    appendLoss(*module, model, a.loss, a.label);
  }
  finish(*module, a);

  if (a.out.empty()) {
    module->print(llvm::outs());
  } else {
    std::error_code ec;
    llvm::raw_fd_ostream os(a.out, ec);
    if (ec)
      fail("cannot write " + a.out + ": " + ec.message());
    module->print(os);
  }
  if (!a.params.empty()) {
    std::string err = writeSafeTensors(a.params, importer.params());
    if (!err.empty())
      fail(err);
  } else if (!importer.params().empty()) {
    std::cerr << "dualpipe-import: note: " << importer.params().size()
              << " parameters not written (give --params=FILE)\n";
  }
  return 0;
}

namespace dualpipe::import {

std::string writeSafeTensors(const std::string &path,
                             const std::vector<Param> &params) {
  std::string header = "{";
  size_t offset = 0;
  for (const Param &p : params) {
    std::string name;
    for (char c : p.name) {
      if (c == '"' || c == '\\')
        name += '\\';
      name += c;
    }
    std::string shape;
    for (int64_t d : p.shape)
      shape += (shape.empty() ? "" : ",") + std::to_string(d);
    size_t bytes = p.values.size() * sizeof(float);
    header += std::string(header.size() > 1 ? "," : "") + "\"" + name +
              "\":{\"dtype\":\"F32\",\"shape\":[" + shape +
              "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  // The data starts 8-byte aligned, as the format recommends.
  while ((header.size() + 8) % 8)
    header += ' ';
  std::ofstream out(path, std::ios::binary);
  if (!out)
    return "cannot write " + path + ": " + std::strerror(errno);
  uint64_t n = header.size();
  unsigned char len[8];
  for (int k = 0; k < 8; ++k)
    len[k] = (n >> (8 * k)) & 0xff;
  out.write(reinterpret_cast<const char *>(len), 8);
  out << header;
  for (const Param &p : params)
    out.write(reinterpret_cast<const char *>(p.values.data()),
              p.values.size() * sizeof(float));
  out.close();
  return out ? "" : "error writing " + path;
}

} // namespace dualpipe::import
