//===- AtomicFile.cpp - Replace a file all at once ------------------------===//

#include "AtomicFile.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace dualpipe::rt {
namespace {

/// "cannot write 'a.json' (creating a.json.tmp.12.0): No space left on device".
/// Takes errno first: building the message may allocate and change it.
std::string systemError(int code, const std::string &path,
                        const std::string &step) {
  return "cannot write '" + path + "' (" + step + "): " + std::strerror(code);
}

bool writeAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

} // namespace

std::string writeFileAtomically(const std::string &path,
                                std::string_view contents) {
  return writeFileAtomically(path, &contents, 1);
}

std::string writeFileAtomically(const std::string &path,
                                const std::string_view *pieces, size_t count) {
  // A unique name next to the target (rename is atomic only within one file
  // system); O_EXCL with mode 0666 keeps the user's umask, unlike mkstemp.
  static std::atomic<unsigned> counter{0};
  std::string temporary;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    temporary = path + ".tmp." + std::to_string(::getpid()) + "." +
                std::to_string(counter.fetch_add(1));
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                0666);
    int code = errno;
    if (fd < 0 && (code != EEXIST || attempt > 100))
      return systemError(code, path, "creating " + temporary);
  }
  auto giveUp = [&](const char *step, bool closeFirst) {
    int code = errno;
    if (closeFirst)
      ::close(fd);
    ::unlink(temporary.c_str());
    return systemError(code, path, step + temporary);
  };
  for (size_t i = 0; i < count; ++i)
    if (!writeAll(fd, pieces[i]))
      return giveUp("writing ", true);
  // fsync before rename: after a crash the new name must not point at an
  // empty file.
  if (::fsync(fd) != 0)
    return giveUp("writing ", true);
  if (::close(fd) != 0)
    return giveUp("writing ", false);
  if (::rename(temporary.c_str(), path.c_str()) != 0)
    return giveUp("renaming ", false);
  return "";
}

} // namespace dualpipe::rt
