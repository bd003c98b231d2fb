#include "store/interface_keys.h"

#include "store/private_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <fstream>
#include <sstream>

namespace wgate {

Result<WgKey> InterfaceKeys::load(const std::string& interface) const {
  std::string path = path_of(interface);
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) {
      return make_error("interface " + interface + " has no key yet (" + path +
                        "): `wgate server` creates it when it first brings the interface up");
    }
    return errno_error(errno, "reading interface key " + path);
  }
  std::string text;
  std::getline(in, text);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  auto key = WgKey::from_base64(text);
  // The message names the file, never its content: it is a private key.
  if (!key) return make_error(path + ": not a base64 WireGuard private key");
  return key;
}

Result<WgKey> InterfaceKeys::public_key(const std::string& interface) const {
  WGATE_ASSIGN_OR_RETURN(WgKey private_key, load(interface));
  return private_key.public_key();
}

Result<WgKey> InterfaceKeys::create_or_adopt(const std::string& interface, const std::optional<WgKey>& adopt) {
  std::string path = path_of(interface);
  if (access(path.c_str(), F_OK) == 0) return load(interface);
  WGATE_TRY(make_private_dirs(dir_));
  WgKey key;
  if (adopt && !adopt->is_zero()) {
    key = *adopt;
  } else {
    WGATE_ASSIGN_OR_RETURN(key, WgKey::generate_private());
  }
  // Written to a unique temporary file (0600 from mkstemp), then linked into
  // place: if two processes race, one wins and the other reads its key.
  std::string tmp = path + ".tmp.XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) return errno_error(errno, "creating a temporary file in " + dir_);
  std::string text = key.to_base64() + "\n";
  bool written = fchmod(fd, 0600) == 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                 fsync(fd) == 0;
  int write_errno = errno;
  close(fd);
  if (!written) {
    unlink(tmp.c_str());
    return errno_error(write_errno, "writing " + tmp);
  }
  if (link(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    if (err == EEXIST) return load(interface);
    return errno_error(err, "creating " + path);
  }
  unlink(tmp.c_str());
  // The new name is only durable once the directory is synced.
  WGATE_TRY(sync_dir(dir_));
  return key;
}

}  // namespace wgate
