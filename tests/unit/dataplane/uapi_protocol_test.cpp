#include "dataplane/uapi_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace wgate {
namespace {

using ::testing::HasSubstr;

// Keys in the protocol's lowercase hex form.
const std::string kPriv = "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a";
const std::string kPeerA = "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33";
const std::string kPeerB = "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376";
const std::string kPeerC = "662e14fd594556f522604703340351258903b64f35553763f19426ab2a515c58";

WgKey key(const std::string& hex) {
  auto k = WgKey::from_hex(hex);
  EXPECT_TRUE(k.ok());
  return k.ok() ? *k : WgKey();
}

Prefix prefix(const char* text) {
  auto p = Prefix::parse(text);
  EXPECT_TRUE(p.ok()) << text;
  return p.ok() ? *p : Prefix();
}

TEST(UapiProtocol, FormatsDeviceWithReplacePeers) {
  WgDeviceUpdate update;
  update.name = "wg0";
  update.private_key = key(kPriv);
  update.listen_port = 51820;
  update.fwmark = 0x1234;
  update.replace_peers = true;
  EXPECT_EQ(format_set_request(update),
            "set=1\n"
            "private_key=" + kPriv + "\n"
            "listen_port=51820\n"
            "fwmark=4660\n"
            "replace_peers=true\n"
            "\n");
}

TEST(UapiProtocol, FormatsPeers) {
  WgDeviceUpdate update;
  update.name = "wg0";
  WgPeerUpdate removed;
  removed.public_key = key(kPeerA);
  removed.remove = true;
  removed.allowed_ips = {prefix("10.0.0.9/32")};  // must not be sent after remove
  WgPeerUpdate replaced;
  replaced.public_key = key(kPeerB);
  replaced.replace_allowed_ips = true;
  replaced.allowed_ips = {prefix("10.10.0.2/32"), prefix("fd00:1::2/128")};
  replaced.persistent_keepalive = 25;
  WgPeerUpdate with_endpoint;
  with_endpoint.public_key = key(kPeerC);
  with_endpoint.endpoint = "[2001:db8::1]:51820";
  with_endpoint.allowed_ips = {prefix("192.168.7.0/24")};
  update.peers = {removed, replaced, with_endpoint};

  ASSERT_TRUE(validate_set_request(update).ok());
  EXPECT_EQ(format_set_request(update),
            "set=1\n"
            "public_key=" + kPeerA + "\n"
            "remove=true\n"
            "public_key=" + kPeerB + "\n"
            "persistent_keepalive_interval=25\n"
            "replace_allowed_ips=true\n"
            "allowed_ip=10.10.0.2/32\n"
            "allowed_ip=fd00:1::2/128\n"
            "public_key=" + kPeerC + "\n"
            "endpoint=[2001:db8::1]:51820\n"
            "allowed_ip=192.168.7.0/24\n"
            "\n");
}

TEST(UapiProtocol, EmptyUpdateIsJustTheFrame) {
  WgDeviceUpdate update;
  EXPECT_EQ(format_set_request(update), "set=1\n\n");
}

TEST(UapiProtocol, RejectsEndpointsThatCouldInjectLines) {
  WgDeviceUpdate update;
  WgPeerUpdate peer;
  peer.public_key = key(kPeerA);
  for (const char* bad : {"1.2.3.4:51820\nreplace_peers=true", "1.2.3.4", "host.example:51820", "1.2.3.4:70000",
                          "2001:db8::1:51820", "[1.2.3.4]:5"}) {
    peer.endpoint = bad;
    update.peers = {peer};
    EXPECT_FALSE(validate_set_request(update).ok()) << bad;
  }
  for (const char* good : {"1.2.3.4:51820", "[2001:db8::1]:1", "[fe80::1%eth0]:51820"}) {
    peer.endpoint = good;
    update.peers = {peer};
    EXPECT_TRUE(validate_set_request(update).ok()) << good;
  }
}

std::string realistic_reply() {
  return "private_key=" + kPriv + "\n"
         "listen_port=51820\n"
         "fwmark=51\n"
         "public_key=" + kPeerA + "\n"
         "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
         "protocol_version=1\n"
         "endpoint=192.0.2.7:40000\n"
         "last_handshake_time_sec=1700000000\n"
         "last_handshake_time_nsec=123456789\n"
         "tx_bytes=18446744073709551615\n"
         "rx_bytes=2048\n"
         "persistent_keepalive_interval=25\n"
         "allowed_ip=10.10.0.2/32\n"
         "allowed_ip=fd00:1::/64\n"
         "public_key=" + kPeerB + "\n"
         "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
         "protocol_version=1\n"
         "last_handshake_time_sec=0\n"
         "last_handshake_time_nsec=0\n"
         "tx_bytes=0\n"
         "rx_bytes=0\n"
         "persistent_keepalive_interval=0\n"
         "allowed_ip=10.10.0.3/32\n"
         "errno=0\n"
         "\n";
}

TEST(UapiProtocol, ParsesRealisticGetReply) {
  auto state = parse_get_reply(realistic_reply());
  ASSERT_TRUE(state.ok()) << state.error().message;
  ASSERT_TRUE(state->private_key.has_value());
  EXPECT_EQ(state->private_key->to_hex(), kPriv);
  ASSERT_TRUE(state->public_key.has_value());
  EXPECT_EQ(*state->public_key, *key(kPriv).public_key());
  EXPECT_EQ(state->listen_port, 51820);
  EXPECT_EQ(state->fwmark, 51u);
  ASSERT_EQ(state->peers.size(), 2u);

  const auto& a = state->peers[0];
  EXPECT_EQ(a.public_key.to_hex(), kPeerA);
  EXPECT_EQ(a.endpoint, "192.0.2.7:40000");
  EXPECT_EQ(a.last_handshake_sec, 1700000000);
  EXPECT_EQ(a.last_handshake_nsec, 123456789);
  EXPECT_EQ(a.tx_bytes, 18446744073709551615ull);
  EXPECT_EQ(a.rx_bytes, 2048u);
  EXPECT_EQ(a.persistent_keepalive, 25);
  EXPECT_EQ(a.allowed_ips, (std::vector<Prefix>{prefix("10.10.0.2/32"), prefix("fd00:1::/64")}));

  const auto& b = state->peers[1];
  EXPECT_EQ(b.public_key.to_hex(), kPeerB);
  EXPECT_EQ(b.endpoint, "");
  EXPECT_EQ(b.last_handshake_sec, 0);
  EXPECT_EQ(b.persistent_keepalive, 0);
  EXPECT_EQ(b.allowed_ips, (std::vector<Prefix>{prefix("10.10.0.3/32")}));
}

TEST(UapiProtocol, ParsesEmptyDevice) {
  auto state = parse_get_reply("errno=0\n\n");
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_FALSE(state->private_key.has_value());
  EXPECT_FALSE(state->public_key.has_value());
  EXPECT_EQ(state->listen_port, 0);
  EXPECT_TRUE(state->peers.empty());
}

TEST(UapiProtocol, ToleratesUnknownKeys) {
  auto state = parse_get_reply("listen_port=1\njc=4\npublic_key=" + kPeerA + "\nfuture_thing=x\nerrno=0\n\n");
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_EQ(state->listen_port, 1);
  EXPECT_EQ(state->peers.size(), 1u);
}

TEST(UapiProtocol, NegativeErrnoIsAnError) {
  auto state = parse_get_reply("errno=-22\n\n");
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().sys_errno, 22);
  EXPECT_THAT(state.error().message, HasSubstr("-22"));

  auto set = parse_set_reply("errno=-98\n\n");
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(*set, -98);
  auto set_ok = parse_set_reply("errno=0\n\n");
  ASSERT_TRUE(set_ok.ok());
  EXPECT_EQ(*set_ok, 0);
  auto positive = parse_get_reply("errno=5\n\n");
  ASSERT_FALSE(positive.ok());
  EXPECT_EQ(positive.error().sys_errno, 5);
}

struct BadReply {
  std::string reply;
  std::string expect_in_message;
};

TEST(UapiProtocol, MalformedGetRepliesAreErrors) {
  const std::vector<BadReply> cases = {
      {"listen_port=65536\nerrno=0\n\n", "listen_port"},
      {"listen_port=-1\nerrno=0\n\n", "listen_port"},
      {"listen_port=+5\nerrno=0\n\n", "listen_port"},
      {"listen_port=80x\nerrno=0\n\n", "line 1"},
      {"fwmark=\nerrno=0\n\n", "fwmark"},
      {"private_key=abc\nerrno=0\n\n", "private_key"},
      {"private_key=" + std::string(64, 'G') + "\nerrno=0\n\n", "private_key"},
      {"private_key=" + std::string(64, 'A') + "\nerrno=0\n\n", "private_key"},  // upper case
      {"public_key=" + kPeerA + "\nrx_bytes=1.5\nerrno=0\n\n", "line 2"},
      {"public_key=" + kPeerA + "\ntx_bytes=-3\nerrno=0\n\n", "tx_bytes"},
      {"public_key=" + kPeerA + "\nallowed_ip=10.0.0.0/33\nerrno=0\n\n", "allowed_ip"},
      {"public_key=" + kPeerA + "\nallowed_ip=10.0.0.1\nerrno=0\n\n", "allowed_ip"},
      {"public_key=" + kPeerA + "\nendpoint=nowhere\nerrno=0\n\n", "endpoint"},
      {"public_key=" + kPeerA + "\nlast_handshake_time_nsec=1000000000\nerrno=0\n\n", "nsec"},
      {"public_key=" + kPeerA + "\nprotocol_version=2\nerrno=0\n\n", "protocol_version"},
      {"public_key=" + kPeerA + "\npersistent_keepalive_interval=70000\nerrno=0\n\n", "persistent_keepalive"},
      {"rx_bytes=5\nerrno=0\n\n", "before any public_key"},
      {"Listen_Port=5\nerrno=0\n\n", "malformed key"},
      {"=5\nerrno=0\n\n", "malformed key"},
      {"listen_port 5\nerrno=0\n\n", "no '='"},
      {"errno=zero\n\n", "errno"},
      {"listen_port=5\n\n", "no errno"},
      {"errno=0\nlisten_port=5\n\n", "after errno"},
      {"listen_port=5\nerrno=0\n", "truncated"},       // missing terminator
      {"listen_port=5\nerrno=0", "truncated"},         // cut mid-line
      {"", "truncated"},
      {"errno=0\n\nerrno=0\n\n", "after its terminator"},
  };
  for (const auto& c : cases) {
    auto state = parse_get_reply(c.reply);
    ASSERT_FALSE(state.ok()) << "accepted: " << c.reply;
    EXPECT_THAT(state.error().message, HasSubstr(c.expect_in_message)) << c.reply;
  }
}

TEST(UapiProtocol, MalformedSetRepliesAreErrors) {
  for (const char* bad : {"", "errno=0\n", "errno=\n\n", "errno=1x\n\n", "listen_port=1\nerrno=0\n\n",
                          "errno=0\nerrno=0\n\n", "oops\n\n"}) {
    EXPECT_FALSE(parse_set_reply(bad).ok()) << bad;
  }
}

TEST(UapiProtocol, DetectsCompleteReplies) {
  EXPECT_FALSE(uapi_reply_complete(""));
  EXPECT_FALSE(uapi_reply_complete("errno=0\n"));
  EXPECT_TRUE(uapi_reply_complete("errno=0\n\n"));
  EXPECT_TRUE(uapi_reply_complete("\n"));
}

TEST(UapiProtocol, FormattedPeersRoundTripThroughParser) {
  // A get reply built from what a set wrote parses back to the same peers.
  WgDeviceUpdate update;
  WgPeerUpdate peer;
  peer.public_key = key(kPeerC);
  peer.allowed_ips = {prefix("10.1.2.3/32")};
  peer.endpoint = "198.51.100.1:1234";
  update.peers = {peer};
  std::string request = format_set_request(update);
  std::string body = request.substr(std::string("set=1\n").size());
  body.pop_back();  // the blank line
  auto state = parse_get_reply(body + "errno=0\n\n");
  ASSERT_TRUE(state.ok()) << state.error().message;
  ASSERT_EQ(state->peers.size(), 1u);
  EXPECT_EQ(state->peers[0].public_key, peer.public_key);
  EXPECT_EQ(state->peers[0].allowed_ips, peer.allowed_ips);
  EXPECT_EQ(state->peers[0].endpoint, *peer.endpoint);
}

}  // namespace
}  // namespace wgate
