// Reading the kernel's replies (ack_status, done_status), byte by byte, from
// messages written out here by hand (netlink(7)):
//   nlmsghdr = len u32, type u16, flags u16, seq u32, pid u32     (16 bytes)
//   nlmsgerr = error i32, then the request's nlmsghdr              (20 bytes)
//              and, without NLM_F_CAPPED, the rest of the request
//   extended ACK: attributes after that (NLM_F_ACK_TLVS), e.g.
//              NLMSGERR_ATTR_MSG (1) = NUL-terminated text
#include "netlink/socket.h"

#include <gtest/gtest.h>
#include <linux/netlink.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace wgate::netlink {
namespace {

using Bytes = std::vector<uint8_t>;

void append(Bytes& b, const void* p, size_t n) {
  const auto* c = static_cast<const uint8_t*>(p);
  b.insert(b.end(), c, c + n);
}
void put_u32(Bytes& b, uint32_t v) { append(b, &v, 4); }
void put_u16(Bytes& b, uint16_t v) { append(b, &v, 2); }

// A message of `type` with `payload`; nlmsg_len covers header + payload.
Bytes message(uint16_t type, uint16_t flags, const Bytes& payload) {
  Bytes m;
  put_u32(m, static_cast<uint32_t>(16 + payload.size()));
  put_u16(m, type);
  put_u16(m, flags);
  put_u32(m, 7);  // seq
  put_u32(m, 0);  // pid
  append(m, payload.data(), payload.size());
  return m;
}

// nlmsgerr: the code and the echoed request header (capped: no body).
Bytes nlmsgerr_payload(int32_t code, uint32_t echoed_len = 16) {
  Bytes p;
  append(p, &code, 4);
  put_u32(p, echoed_len);
  put_u16(p, 24 /* RTM_NEWROUTE */);
  put_u16(p, NLM_F_REQUEST | NLM_F_ACK);
  put_u32(p, 7);
  put_u32(p, 0);
  return p;
}

Bytes text_attr(const std::string& text) {
  Bytes a;
  put_u16(a, static_cast<uint16_t>(4 + text.size() + 1));
  put_u16(a, NLMSGERR_ATTR_MSG);
  append(a, text.c_str(), text.size() + 1);
  while (a.size() % 4) a.push_back(0);
  return a;
}

const nlmsghdr* as_nlh(const Bytes& b) { return reinterpret_cast<const nlmsghdr*>(b.data()); }

TEST(NetlinkAck, ZeroIsAnAck) {
  EXPECT_TRUE(ack_status(as_nlh(message(NLMSG_ERROR, 0, nlmsgerr_payload(0)))).ok());
}

TEST(NetlinkAck, ErrnoWithExtendedAckText) {
  Bytes payload = nlmsgerr_payload(-EEXIST);
  Bytes text = text_attr("Nexthop device is not up");
  payload.insert(payload.end(), text.begin(), text.end());
  Status st = ack_status(as_nlh(message(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, payload)));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().sys_errno, EEXIST);
  EXPECT_NE(st.error().message.find("Nexthop device is not up"), std::string::npos) << st.error().message;
}

// INT32_MIN was negated as an int (undefined behaviour; UBSan aborts the
// test under -fno-sanitize-recover). Codes that are no negative errno are
// malformed: an error with EPROTO that names the code.
TEST(NetlinkAck, MalformedCodesAreErrorsWithoutTheirErrno) {
  for (int32_t code : {INT32_MIN, -4096, 1, INT32_MAX}) {
    Status st = ack_status(as_nlh(message(NLMSG_ERROR, NLM_F_CAPPED, nlmsgerr_payload(code))));
    ASSERT_FALSE(st.ok()) << code;
    EXPECT_EQ(st.error().sys_errno, EPROTO) << code;
    EXPECT_NE(st.error().message.find(std::to_string(code)), std::string::npos) << st.error().message;
  }
}

// Without NLM_F_CAPPED the kernel echoes the whole request; the attributes
// follow it at the next 4-byte boundary.
Bytes uncapped_error(int32_t code, uint32_t echoed_len, const Bytes& echoed_body, const Bytes& attrs) {
  Bytes payload = nlmsgerr_payload(code, echoed_len);
  payload.insert(payload.end(), echoed_body.begin(), echoed_body.end());
  while (payload.size() % 4) payload.push_back(0);
  payload.insert(payload.end(), attrs.begin(), attrs.end());
  return message(NLMSG_ERROR, NLM_F_ACK_TLVS, payload);
}

TEST(NetlinkAck, ExtendedAckAfterAnEchoedRequest) {
  // A request of 20 bytes, and one of 18, which the kernel pads to 20: the
  // text is at the same aligned place (reading it 2 bytes early was an
  // unaligned nlattr access, a UBSan report).
  for (uint32_t len : {20u, 18u}) {
    Bytes m = uncapped_error(-EINVAL, len, Bytes(len - 16, 0xab), text_attr("bad attribute"));
    Status st = ack_status(as_nlh(m));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().sys_errno, EINVAL);
    EXPECT_NE(st.error().message.find("(bad attribute)"), std::string::npos) << len << ": " << st.error().message;
  }
}

// Found by fuzzing (tests/fuzz/corpus/netlink_ack/extack-echoed-length-below-header):
// an echoed request length below a header wrapped the offset of the
// attributes around to an unaligned place inside the echoed header.
TEST(NetlinkAck, EchoedLengthBelowAHeaderHasNoText) {
  for (uint32_t len : {0u, 7u, 15u}) {
    Bytes m = uncapped_error(-EINVAL, len, {}, text_attr("never read"));
    Status st = ack_status(as_nlh(m));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().sys_errno, EINVAL);
    EXPECT_EQ(st.error().message.find('('), std::string::npos) << len << ": " << st.error().message;
  }
}

TEST(NetlinkAck, TruncatedErrorIsAnError) {
  Bytes m = message(NLMSG_ERROR, 0, nlmsgerr_payload(-EPERM));
  m.resize(16 + 8);
  uint32_t len = 16 + 8;
  std::memcpy(m.data(), &len, 4);
  EXPECT_FALSE(ack_status(as_nlh(m)).ok());
}

TEST(NetlinkDone, CodeOfAFailedDump) {
  int32_t zero = 0;
  Bytes ok_payload;
  append(ok_payload, &zero, 4);
  EXPECT_TRUE(done_status(as_nlh(message(NLMSG_DONE, NLM_F_MULTI, ok_payload))).ok());
  EXPECT_TRUE(done_status(as_nlh(message(NLMSG_DONE, NLM_F_MULTI, {}))).ok());  // no code at all

  for (int32_t code : {-EINTR, INT32_MIN}) {
    Bytes payload;
    append(payload, &code, 4);
    Status st = done_status(as_nlh(message(NLMSG_DONE, NLM_F_MULTI, payload)));
    ASSERT_FALSE(st.ok()) << code;
    EXPECT_EQ(st.error().sys_errno, code == INT32_MIN ? EPROTO : EINTR) << code;
  }
}

}  // namespace
}  // namespace wgate::netlink
