// Directories for wgate's secrets and state: created private, synced so a
// new file's name survives a power cut.
#pragma once

#include <string>

#include "util/result.h"

namespace wgate {

// mkdir -p with every new level 0700; existing directories are left as they
// are (their mode is the administrator's choice).
Status make_private_dirs(const std::string& dir);

// fsync of the directory itself: a file created or linked in it is only
// durable once its directory entry is.
Status sync_dir(const std::string& dir);

}  // namespace wgate
