//===- AtomicFile.h - Replace a file all at once ----------------*- C++ -*-===//
//
// Traces and checkpoints are written to a temporary file in the same folder
// and renamed over the target, so a reader (or a crash) never sees half a
// file and an existing file is only replaced by a complete one.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_RUNTIME_ATOMICFILE_H
#define DUALPIPE_RUNTIME_ATOMICFILE_H

#include <string>
#include <string_view>

namespace dualpipe::rt {

/// Writes `contents` to `path` atomically. Returns "" on success, otherwise
/// "cannot write '<path>' (<step>): <system error>".
std::string writeFileAtomically(const std::string &path,
                                std::string_view contents);

/// Writes the pieces one after another, without joining them in memory first.
std::string writeFileAtomically(const std::string &path,
                                const std::string_view *pieces, size_t count);

} // namespace dualpipe::rt

#endif // DUALPIPE_RUNTIME_ATOMICFILE_H
