// The daemon's record of the config it runs, and the warning explain and
// plan print when the file they read is another one.
#include "service/running_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "../scratch_store_test.h"

namespace wgate {
namespace {

const std::string kSections = R"(
[pool]
ipv4 = "10.100.0.0/24"
[networks]
vpc-a = ["10.1.0.0/16"]
[groups.dev]
networks = ["vpc-a"]
interface = "wgt-dev"
port = 51820
table = 1001
)";

class RunningConfigTest : public testing::ScratchStoreTest {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(open_scratch("running-config-test", kSections)); }
};

TEST_F(RunningConfigTest, NoWarningBeforeAnyDaemonRecordedOne) {
  auto rc = service::read_running_config(config_);
  ASSERT_TRUE(rc.ok()) << rc.error().message;
  EXPECT_FALSE(rc->has_value());
  EXPECT_FALSE(service::running_config_warning(config_));
}

TEST_F(RunningConfigTest, TheSameConfigAgreesAnotherIsWarnedAbout) {
  ASSERT_FALSE(config_.source_sha256.empty());
  ASSERT_TRUE(service::record_running_config(config_, 1'700'000'000).ok());
  struct stat st {};
  ASSERT_EQ(::stat(service::running_config_path(config_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  auto rc = service::read_running_config(config_);
  ASSERT_TRUE(rc.ok() && rc->has_value());
  EXPECT_EQ((*rc)->sha256, config_.source_sha256);
  EXPECT_EQ((*rc)->loaded_at, 1'700'000'000);
  EXPECT_FALSE(service::running_config_warning(config_)) << "the file is what the daemon runs";

  // The file edited (one more network), the daemon not told.
  const Config running = config_;
  std::string edited = kSections;
  edited.replace(edited.find("vpc-a = "), 0, "vpc-b = [\"10.2.0.0/16\"]\n");
  ASSERT_NO_FATAL_FAILURE(load(edited));
  ASSERT_NE(config_.source_sha256, running.source_sha256);
  auto w = service::running_config_warning(config_);
  ASSERT_TRUE(w);
  EXPECT_NE(w->find("differs from the one the daemon runs (loaded 2023-11-14T22:13:20Z)"), std::string::npos) << *w;
  EXPECT_NE(w->find("SIGHUP"), std::string::npos);
  // The daemon reloads it: they agree again.
  ASSERT_TRUE(service::record_running_config(config_, 1'700'000'100).ok());
  EXPECT_FALSE(service::running_config_warning(config_));
}

TEST_F(RunningConfigTest, AMalformedRecordIsNamedInTheWarning) {
  {
    std::ofstream out(service::running_config_path(config_));
    out << "sha256 nothex\n";
  }
  auto rc = service::read_running_config(config_);
  ASSERT_FALSE(rc.ok());
  EXPECT_NE(rc.error().message.find("running-config"), std::string::npos) << rc.error().message;
  auto w = service::running_config_warning(config_);
  ASSERT_TRUE(w);
  EXPECT_NE(w->find("cannot tell which config the daemon runs"), std::string::npos) << *w;
}

}  // namespace
}  // namespace wgate
