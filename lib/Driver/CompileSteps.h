//===- CompileSteps.h - the pieces of a compile (internal) ------*- C++ -*-===//
#ifndef DUALPIPE_LIB_DRIVER_COMPILESTEPS_H
#define DUALPIPE_LIB_DRIVER_COMPILESTEPS_H

#include "dualpipe/Driver/Driver.h"
#include "dualpipe/Runtime/Manifest.h"

#include "llvm/IR/Module.h"

namespace dualpipe::driver {

/// The manifest of the forward-only skeleton, read off the partitioned
/// (still tensor-level) module.
manifest::Manifest forwardManifest(mlir::ModuleOp module, Target target);

/// The manifest of a training step, read off the tensor-level module after
/// --dualpipe-lower-schedule (and --dualpipe-build-optimizer). With an
/// output folder, also the schedule and memory-plan files and the plan's
/// predicted peak bytes per rank (read from `memoryReport`).
mlir::FailureOr<manifest::Manifest>
trainingManifest(mlir::ModuleOp module, const StepOptions &step,
                 llvm::StringRef memoryReport);

/// A module to compile, the prefix of its object files' paths, and the
/// suffix its local symbols get when it is split (empty: none), so that two
/// modules linked together cannot clash.
struct ObjectModule {
  llvm::Module *module;
  std::string pathPrefix;
  std::string localSuffix;
};

/// Compiles `modules` for the host CPU (`cpu`, empty: the host's) into
/// object files. First every call of an internal function stops passing
/// the descriptor fields its callee never reads (upstream's dead-argument
/// elimination, after instsimplify and dce). Each module is then cut in two,
/// linkable with each other (local symbols become hidden globals, renamed with
/// `localSuffix`): its rank programs, whose loops are first moved into
/// functions of their own, and the rest. The rest is optimized whole at
/// `optLevel` (modules `jobs` at a time, each on its own thread); the rank
/// programs are not optimized and get -O0 code generation. Both are then split
/// into up to `jobs` parts (by function) compiled on that many threads:
/// `pathPrefix`_K.o and `pathPrefix`_glue_K.o. Marks `timer`'s llvm-optimize
/// and codegen phases; returns the paths written.
mlir::FailureOr<std::vector<std::string>>
emitObjects(llvm::ArrayRef<ObjectModule> modules, llvm::StringRef cpu,
            unsigned optLevel, unsigned jobs, PhaseTimer *timer);

/// Links `objects` and the exported `dualpipe_step_abi` string (`abi`, the
/// manifest's signature text) into the shared library `library` with the
/// runtime (and the CUDA libraries for the cuda target).
mlir::LogicalResult linkLibrary(llvm::ArrayRef<std::string> objects,
                                llvm::StringRef library, Target target,
                                llvm::StringRef abi);

/// Records what only the linked library knows (its size and SHA-256) and
/// the abi text in `manifest`, then checks the whole manifest.
mlir::LogicalResult sealManifest(manifest::Manifest &manifest,
                                 llvm::StringRef library);

} // namespace dualpipe::driver

#endif // DUALPIPE_LIB_DRIVER_COMPILESTEPS_H
