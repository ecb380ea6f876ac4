//===- dualpipe/Runtime/Files.h - Replace a file all at once ----*- C++ -*-===//
//
// Traces, gradients and checkpoints are written so that a reader (or a
// crash, or a kill -9) never sees half a file, and an existing file is only
// ever replaced by a complete one: the bytes go to an unnamed file in the
// target's folder (O_TMPFILE), which is synced, then named
// "<path>.tmp.<pid>.<n>" and renamed over the target. A writer killed while
// writing leaves nothing behind; one killed between the naming and the
// rename (two system calls apart) leaves a complete temporary, which
// removeStaleTemporaries deletes on the next start. Where the file system
// has no O_TMPFILE the temporary is named from the start.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_RUNTIME_FILES_H
#define DUALPIPE_RUNTIME_FILES_H

#include "dualpipe/Runtime/Export.h"

#include <string>
#include <string_view>
#include <vector>

namespace dualpipe::rt {

/// Writes `contents` to `path` atomically. Returns "" on success, otherwise
/// "cannot write '<path>' (<step>): <system error>".
DUALPIPE_RT_EXPORT std::string writeFileAtomically(const std::string &path,
                                                   std::string_view contents);

/// Writes the pieces one after another, without joining them in memory first.
DUALPIPE_RT_EXPORT std::string
writeFileAtomically(const std::string &path, const std::string_view *pieces,
                    size_t count);

/// Deletes the temporaries "<path>.tmp.<pid>.<n>" whose writer process is
/// gone (a save that was killed); returns the paths it deleted. Files of a
/// live process (another run saving to the same path) are left alone.
DUALPIPE_RT_EXPORT std::vector<std::string>
removeStaleTemporaries(const std::string &path);

} // namespace dualpipe::rt

#endif // DUALPIPE_RUNTIME_FILES_H
