// A scratch wgate for unit tests that need a real store: a fresh temporary
// directory holding the SQLite store and the state dir, a config made of a
// [server] section pointing there plus the test's own sections, initialized
// as `wgate init` does, and one store connection. Fixtures derive from it,
// so every test gets the same setup and the same clean-up.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "core/config.h"
#include "service/service.h"
#include "store/store.h"

namespace wgate::testing {

class ScratchStoreTest : public ::testing::Test {
 protected:
  // Makes the directory (/tmp/wgate-<tag>-XXXXXX), reads the config from
  // server_section() + `sections`, initializes and opens the store. Call
  // with ASSERT_NO_FATAL_FAILURE: a bad config fails the test.
  void open_scratch(const std::string& tag, const std::string& sections) {
    std::string tmpl = "/tmp/wgate-" + tag + "-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ASSERT_NO_FATAL_FAILURE(load(sections));
    auto init = service::initialize(config_);
    ASSERT_TRUE(init.ok()) << init.error().message;
    ASSERT_NO_FATAL_FAILURE(reopen());
  }

  // Re-reads the config with other sections (same directory, same store).
  void load(const std::string& sections) {
    auto c = parse_config(server_section() + sections, "scratch-test.toml");
    ASSERT_TRUE(c.ok()) << c.error().message;
    config_ = *c;
  }

  // A new store connection, as after a restart.
  void reopen() {
    store_.reset();
    auto s = open_sqlite_store(config_.server.store_path);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(s).value();
  }

  std::string server_section() const {
    return "[server]\nendpoint = \"vpn.example.com\"\nstore = \"" + dir_ + "/db/wgate.db\"\nstate_dir = \"" + dir_ +
           "/state\"\n";
  }

  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  Config config_;
  std::unique_ptr<Store> store_;
};

}  // namespace wgate::testing
