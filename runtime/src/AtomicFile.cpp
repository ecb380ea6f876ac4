//===- AtomicFile.cpp - Replace a file all at once ------------------------===//

#include "dualpipe/Runtime/Files.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include <dirent.h>
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

bool writePieces(int fd, const std::string_view *pieces, size_t count) {
  for (size_t i = 0; i < count; ++i)
    if (!writeAll(fd, pieces[i]))
      return false;
  // fsync before rename: after a crash the new name must not point at an
  // empty file.
  return ::fsync(fd) == 0;
}

std::string folderOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// A unique name next to the target (rename is atomic only within one file
/// system).
std::string temporaryName(const std::string &path) {
  static std::atomic<unsigned> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." +
         std::to_string(counter.fetch_add(1));
}

/// The bytes in an unnamed file (O_TMPFILE), then a name, then the rename.
/// Returns false (with `error` empty) when the file system cannot make one.
bool writeUnnamed(const std::string &path, const std::string_view *pieces,
                  size_t count, std::string &error) {
#ifdef O_TMPFILE
  int fd = ::open(folderOf(path).c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC,
                  0666);
  if (fd < 0)
    return false; // EOPNOTSUPP, EISDIR (old kernels), ...: use a named one
  if (!writePieces(fd, pieces, count)) {
    int code = errno;
    ::close(fd);
    error = systemError(code, path, "writing an unnamed temporary");
    return true;
  }
  // Naming an unnamed file: linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH,
  // the /proc/self/fd link works for everyone where /proc allows it.
  std::string self = "/proc/self/fd/" + std::to_string(fd);
  std::string temporary;
  for (int attempt = 0;; ++attempt) {
    temporary = temporaryName(path);
    if (::linkat(fd, "", AT_FDCWD, temporary.c_str(), AT_EMPTY_PATH) == 0 ||
        (errno != EEXIST &&
         ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, temporary.c_str(),
                  AT_SYMLINK_FOLLOW) == 0))
      break;
    if (errno != EEXIST || attempt > 100) {
      ::close(fd); // neither works here: the named way
      return false;
    }
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    int code = errno;
    ::unlink(temporary.c_str());
    error = systemError(code, path, "renaming " + temporary);
  }
  return true;
#else
  (void)path, (void)pieces, (void)count, (void)error;
  return false;
#endif
}

/// The named way: a temporary file that a kill while writing leaves
/// behind (removeStaleTemporaries deletes it on the next start).
std::string writeNamed(const std::string &path, const std::string_view *pieces,
                       size_t count) {
  // O_EXCL with mode 0666 keeps the user's umask, unlike mkstemp.
  std::string temporary;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    temporary = temporaryName(path);
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
  if (!writePieces(fd, pieces, count))
    return giveUp("writing ", true);
  if (::close(fd) != 0)
    return giveUp("writing ", false);
  if (::rename(temporary.c_str(), path.c_str()) != 0)
    return giveUp("renaming ", false);
  return "";
}

/// "<pid>.<n>" -> pid, or -1.
long temporaryOwner(const std::string &suffix) {
  size_t dot = suffix.find('.');
  if (dot == 0 || dot == std::string::npos || dot + 1 == suffix.size() ||
      dot > 10)
    return -1;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (i != dot && (suffix[i] < '0' || suffix[i] > '9'))
      return -1;
  return std::stol(suffix.substr(0, dot));
}

} // namespace

std::string writeFileAtomically(const std::string &path,
                                std::string_view contents) {
  return writeFileAtomically(path, &contents, 1);
}

std::string writeFileAtomically(const std::string &path,
                                const std::string_view *pieces, size_t count) {
  // DUALPIPE_ATOMIC_NAMED=1 (tests) takes the named way everywhere.
  const bool named = std::getenv("DUALPIPE_ATOMIC_NAMED") != nullptr;
  std::string error;
  if (!named && writeUnnamed(path, pieces, count, error))
    return error;
  return writeNamed(path, pieces, count);
}

std::vector<std::string> removeStaleTemporaries(const std::string &path) {
  std::vector<std::string> removed;
  std::string folder = folderOf(path);
  size_t slash = path.find_last_of('/');
  std::string prefix =
      (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp.";
  DIR *dir = ::opendir(folder.c_str());
  if (!dir)
    return removed;
  while (const dirent *entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0)
      continue;
    long pid = temporaryOwner(name.substr(prefix.size()));
    if (pid <= 0 || pid == ::getpid() ||
        !(::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH))
      continue;
    std::string file = folder + "/" + name;
    if (::unlink(file.c_str()) == 0)
      removed.push_back(file);
  }
  ::closedir(dir);
  return removed;
}

} // namespace dualpipe::rt
