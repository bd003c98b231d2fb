#include "cli/context.h"

#include "log/json_formatter.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <iostream>

namespace wgate::cli {

const Config& Context::config() {
  if (!config_) {
    config_ = std::make_unique<Config>(get_or_fail(load_config(config_path)));
    if (!log_format) log::use_format(config_->log.format);
  }
  return *config_;
}

Store& Context::store() {
  if (!store_) store_ = get_or_fail(open_sqlite_store(config().server.store_path, StoreOpen::existing));
  return *store_;
}

Actor Context::actor() const {
  // The human behind sudo, when there is one, is who the audit should name.
  if (const char* sudo_user = std::getenv("SUDO_USER")) return Actor{std::string("cli:") + sudo_user};
  if (const passwd* pw = getpwuid(getuid())) return Actor{std::string("cli:") + pw->pw_name};
  return Actor{"cli:uid" + std::to_string(getuid())};
}

UnixTime Context::now() const { return static_cast<UnixTime>(std::time(nullptr)); }

void Context::print_json(const nlohmann::json& j) {
  // Invalid UTF-8 cannot enter through the store's checks; should old data
  // hold some, print a replacement character rather than fail.
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace wgate::cli
