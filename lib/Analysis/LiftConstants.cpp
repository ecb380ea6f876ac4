//===- LiftConstants.cpp - large float constants to named parameters -----===//
//
// Implements --dualpipe-lift-constants, for models captured with their
// weights inlined: each large floating-point constant of the model becomes
// a dualpipe.param argument, optionally saved to a safetensors file.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Analysis/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPELIFTCONSTANTS
#include "dualpipe/Analysis/Passes.h.inc"

using namespace mlir;

namespace {

/// safetensors dtype of a float type, or "" when there is none.
StringRef dtypeOf(Type t) {
  if (t.isF32())
    return "F32";
  if (t.isF64())
    return "F64";
  if (t.isF16())
    return "F16";
  if (t.isBF16())
    return "BF16";
  return "";
}

/// The little-endian bytes of a constant's elements, or nullopt when they are
/// not available (an elided resource).
std::optional<std::string> rawBytes(ElementsAttr value) {
  auto type = cast<ShapedType>(value.getType());
  int64_t eltBytes = type.getElementTypeBitWidth() / 8;
  int64_t total = type.getNumElements() * eltBytes;
  if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
    ArrayRef<char> raw = dense.getRawData();
    if (dense.isSplat()) {
      std::string out;
      out.reserve(total);
      for (int64_t i = 0; i < type.getNumElements(); ++i)
        out.append(raw.data(), eltBytes);
      return out;
    }
    return std::string(raw.data(), raw.size());
  }
  if (auto res = dyn_cast<DenseResourceElementsAttr>(value))
    if (AsmResourceBlob *blob = res.getRawHandle().getBlob()) {
      ArrayRef<char> data = blob->getData();
      if ((int64_t)data.size() == total)
        return std::string(data.data(), data.size());
    }
  return std::nullopt;
}

/// Writes `tensors` (name, type, bytes) as a safetensors file.
LogicalResult writeSafetensors(
    StringRef path,
    ArrayRef<std::tuple<std::string, ShapedType, std::string>> tensors,
    std::string &error) {
  llvm::json::Object header;
  uint64_t offset = 0;
  for (auto &[name, type, bytes] : tensors) {
    llvm::json::Array shape;
    for (int64_t d : type.getShape())
      shape.push_back(d);
    header[name] = llvm::json::Object{
        {"dtype", dtypeOf(type.getElementType())},
        {"shape", std::move(shape)},
        {"data_offsets", llvm::json::Array{offset, offset + bytes.size()}}};
    offset += bytes.size();
  }
  std::string text;
  llvm::raw_string_ostream(text) << llvm::json::Value(std::move(header));
  while (text.size() % 8)
    text.push_back(' ');
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec) {
    error = ec.message();
    return failure();
  }
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i)
    os << char((n >> (8 * i)) & 0xff);
  os << text;
  for (auto &entry : tensors)
    os << std::get<2>(entry);
  return success();
}

struct LiftConstantsPass
    : impl::DualPipeLiftConstantsBase<LiftConstantsPass> {
  using DualPipeLiftConstantsBase::DualPipeLiftConstantsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    bool duplicate;
    func::FuncOp model = findMarkedFunction(module, kModelAttr, duplicate);
    if (duplicate)
      return signalPassFailure();
    if (!model || model.getBody().empty()) {
      module.emitError() << "no func.func with a body is marked " << kModelAttr
                         << "; add `attributes {" << kModelAttr
                         << "}` to the model function";
      return signalPassFailure();
    }

    llvm::StringSet<> taken;
    for (unsigned i = 0; i < model.getNumArguments(); ++i)
      for (StringRef attr : {kInputAttr, kParamAttr})
        if (auto s = model.getArgAttrOfType<StringAttr>(i, attr))
          taken.insert(s.getValue());

    SmallVector<arith::ConstantOp> lift;
    model.walk([&](arith::ConstantOp c) {
      auto type = dyn_cast<RankedTensorType>(c.getType());
      if (type && type.hasStaticShape() &&
          isa<FloatType>(type.getElementType()) &&
          type.getNumElements() >= minElements &&
          isa<ElementsAttr>(c.getValue()))
        lift.push_back(c);
    });

    SmallVector<std::tuple<std::string, ShapedType, std::string>> saved;
    int64_t counter = 0;
    OpBuilder b(&getContext());
    for (arith::ConstantOp c : lift) {
      std::string name;
      if (auto loc = dyn_cast<NameLoc>(c.getLoc()))
        name = loc.getName().str();
      while (name.empty() || taken.contains(name))
        name = prefix + std::to_string(counter++);
      taken.insert(name);
      auto type = cast<RankedTensorType>(c.getType());
      if (!weightsOut.empty()) {
        std::optional<std::string> bytes =
            rawBytes(cast<ElementsAttr>(c.getValue()));
        if (!bytes || dtypeOf(type.getElementType()).empty()) {
          c.emitError() << "cannot save the value of this constant to "
                        << weightsOut
                        << (bytes ? ": its element type has no safetensors "
                                    "dtype (use f32, f64, f16 or bf16)"
                                  : ": its data is not in the file (elided "
                                    "resource); export the model with its "
                                    "weights");
          return signalPassFailure();
        }
        saved.push_back({name, type, std::move(*bytes)});
      }
      unsigned index = model.getNumArguments();
      auto attrs = b.getDictionaryAttr(
          b.getNamedAttr(kParamAttr, b.getStringAttr(name)));
      if (failed(model.insertArgument(index, type, attrs, c.getLoc()))) {
        c.emitError() << "could not add a parameter argument for this "
                         "constant to @"
                      << model.getSymName();
        return signalPassFailure();
      }
      c.getResult().replaceAllUsesWith(model.getArgument(index));
      c.erase();
    }

    if (!weightsOut.empty()) {
      std::string error;
      if (failed(writeSafetensors(weightsOut, saved, error))) {
        module.emitError() << "cannot write " << weightsOut << ": " << error;
        return signalPassFailure();
      }
    }
  }
};
} // namespace
} // namespace dualpipe
