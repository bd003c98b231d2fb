#include "service/running_config.h"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>

#include "core/time_text.h"

namespace wgate::service {
namespace {

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string running_config_path(const Config& config) { return config.server.state_dir + "/running-config"; }

Status record_running_config(const Config& config, UnixTime now) {
  const std::string path = running_config_path(config);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return errno_error(errno, "writing " + tmp);
    out << "sha256 " << config.source_sha256 << "\nloaded_at " << now << "\n";
    out.flush();
    if (!out) return errno_error(errno, "writing " + tmp);
  }
  if (::chmod(tmp.c_str(), 0644) != 0) return errno_error(errno, "chmod " + tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return errno_error(errno, "renaming " + tmp + " to " + path);
  return ok_status();
}

Result<std::optional<RunningConfig>> read_running_config(const Config& config) {
  const std::string path = running_config_path(config);
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return std::optional<RunningConfig>{};
    return errno_error(errno, "reading " + path);
  }
  RunningConfig rc;
  bool have_sha = false, have_time = false;
  std::string key, value;
  while (in >> key >> value) {
    if (key == "sha256" && is_sha256_hex(value)) {
      rc.sha256 = value;
      have_sha = true;
    } else if (key == "loaded_at") {
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), rc.loaded_at);
      have_time = ec == std::errc() && ptr == value.data() + value.size() && rc.loaded_at >= 0;
    }
  }
  if (!have_sha || !have_time) return make_error(path + ": not a running-config record (sha256, loaded_at)");
  return std::optional<RunningConfig>{rc};
}

std::optional<std::string> running_config_warning(const Config& config) {
  auto rc = read_running_config(config);
  if (!rc) return "cannot tell which config the daemon runs: " + rc.error().message;
  if (!*rc || (*rc)->sha256 == config.source_sha256) return std::nullopt;
  return "this config differs from the one the daemon runs (loaded " + format_utc((*rc)->loaded_at) +
         "): the answer describes the file, not what is enforced; send the daemon SIGHUP to apply the file";
}

}  // namespace wgate::service
