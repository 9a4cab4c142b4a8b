#include "clients/legal_receiver/durable_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace collections::legal_receiver {

// Writes `text` to `path` durably: a temporary file, fsync, rename, fsync
// of the folder. Returns an error message, empty on success.
std::string WriteDurably(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string tmp = dir + "/." + name + ".tmp";
  const std::string path = dir + "/" + name;
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "open " + tmp + ": " + strerror(errno);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string e = "write " + tmp + ": " + strerror(errno);
      close(fd);
      return e;
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    std::string e = "fsync " + tmp + ": " + strerror(errno);
    close(fd);
    return e;
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) return "rename " + path + ": " + strerror(errno);
  return SyncFolder(dir);
}

// fsync of a folder, after a file in it was created, renamed or removed.
std::string SyncFolder(const std::string& dir) {
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return "open " + dir + ": " + strerror(errno);
  const int rc = fsync(dfd);
  close(dfd);
  if (rc != 0) return "fsync " + dir + ": " + strerror(errno);
  return "";
}

int64_t ReadLastSequence(const std::string& dir) {
  std::ifstream in(dir + "/LAST_SEQUENCE");
  int64_t last = 0;
  if (in >> last) return last;
  return 0;
}

}  // namespace collections::legal_receiver
