// The shared attribute builder and walker (netlink/attr.h), byte by byte.
//
// Layouts written out by hand (netlink(7)):
//   nlmsghdr = len u32, type u16, flags u16, seq u32, pid u32       (16 bytes)
//   nlattr   = len u16 (header + payload, unpadded), type u16, payload
//              zero padded to 4; a nest's type carries NLA_F_NESTED (0x8000)
// Integers are little-endian (the test host is x86-64 / arm64 LE).
#include "netlink/attr.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wgate::netlink {
namespace {

using Bytes = std::vector<uint8_t>;
using ::testing::HasSubstr;

// ---- builder ------------------------------------------------------------------

Bytes header(uint32_t len, uint16_t type, uint16_t flags, uint32_t seq) {
  return {static_cast<uint8_t>(len), static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len >> 16),
          static_cast<uint8_t>(len >> 24), static_cast<uint8_t>(type), static_cast<uint8_t>(type >> 8),
          static_cast<uint8_t>(flags), static_cast<uint8_t>(flags >> 8), static_cast<uint8_t>(seq),
          static_cast<uint8_t>(seq >> 8), static_cast<uint8_t>(seq >> 16), static_cast<uint8_t>(seq >> 24),
          0, 0, 0, 0};
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(AttrBuilder, PutsArePaddedWithZeros) {
  MessageBuilder b(0x20, NLM_F_REQUEST, 9, 4096);
  struct Fixed {
    uint8_t a, b, c;
  } fixed{1, 2, 3};
  ASSERT_TRUE(b.put_header(fixed));  // 3 bytes, padded to 4
  ASSERT_TRUE(b.put_u8(1, 0xaa));
  ASSERT_TRUE(b.put_u16(2, 0xbbcc));
  ASSERT_TRUE(b.put_u32(3, 0x11223344));
  ASSERT_TRUE(b.put_strz(4, "wg0x1"));  // 6 bytes with the NUL
  ASSERT_TRUE(b.put(5, nullptr, 0));
  const Bytes want = cat({header(60, 0x20, NLM_F_REQUEST, 9),
                          {1, 2, 3, 0},
                          {5, 0, 1, 0, 0xaa, 0, 0, 0},
                          {6, 0, 2, 0, 0xcc, 0xbb, 0, 0},
                          {8, 0, 3, 0, 0x44, 0x33, 0x22, 0x11},
                          {10, 0, 4, 0, 'w', 'g', '0', 'x', '1', 0, 0, 0},
                          {4, 0, 5, 0}});
  EXPECT_EQ(std::move(b).finish(), want);
}

TEST(AttrBuilder, NestLengthsIncludeInnerPadding) {
  MessageBuilder b(0x20, 0, 0, 4096);
  auto outer = b.nest_start(7);
  ASSERT_TRUE(outer);
  auto inner = b.nest_start(0);
  ASSERT_TRUE(inner);
  ASSERT_TRUE(b.put_u8(1, 5));
  b.nest_end(*inner);
  b.nest_end(*outer);
  const Bytes want = cat({header(32, 0x20, 0, 0), {16, 0, 7, 0x80}, {12, 0, 0, 0x80}, {5, 0, 1, 0, 5, 0, 0, 0}});
  EXPECT_EQ(std::move(b).finish(), want);
}

TEST(AttrBuilder, EndingAnOuterNestEndsTheInnerOnes) {
  MessageBuilder b(0x20, 0, 0, 4096);
  auto outer = b.nest_start(7);
  ASSERT_TRUE(outer && b.nest_start(1) && b.put_u32(2, 1));
  b.nest_end(*outer);
  const Bytes want = cat({header(32, 0x20, 0, 0), {16, 0, 7, 0x80}, {12, 0, 1, 0x80}, {8, 0, 2, 0, 1, 0, 0, 0}});
  EXPECT_EQ(std::move(b).finish(), want);
}

TEST(AttrBuilder, CancelDropsTheNestAndWhatFollowed) {
  MessageBuilder b(0x20, 0, 0, 4096);
  ASSERT_TRUE(b.put_u32(1, 7));
  auto nest = b.nest_start(2);
  ASSERT_TRUE(nest && b.nest_start(3) && b.put_strz(4, "gone"));
  b.nest_cancel(*nest);
  ASSERT_TRUE(b.put_u8(5, 1));  // the message goes on from before the nest
  const Bytes want = cat({header(32, 0x20, 0, 0), {8, 0, 1, 0, 7, 0, 0, 0}, {5, 0, 5, 0, 1, 0, 0, 0}});
  EXPECT_EQ(std::move(b).finish(), want);
}

TEST(AttrBuilder, EveryPutIsCheckedAgainstTheMaximum) {
  // Header (16) + u32 attribute (8) fits 24 exactly; nothing more does.
  MessageBuilder b(0x20, 0, 0, 24);
  EXPECT_TRUE(b.fits());
  ASSERT_TRUE(b.put_u32(1, 1));
  EXPECT_FALSE(b.put_u8(2, 1));
  EXPECT_FALSE(b.put(2, nullptr, 0));
  EXPECT_FALSE(b.nest_start(3).has_value());
  EXPECT_FALSE(b.put_header(uint32_t{0}));
  EXPECT_EQ(b.size(), 24u);  // failed puts wrote nothing
  EXPECT_EQ(std::move(b).finish(), cat({header(24, 0x20, 0, 0), {8, 0, 1, 0, 1, 0, 0, 0}}));

  // A 5-byte payload needs 12 bytes with its padding, not 9.
  MessageBuilder c(0x20, 0, 0, 16 + 11);
  EXPECT_FALSE(c.put(1, "abcde", 5));
  EXPECT_EQ(c.size(), 16u);

  MessageBuilder tiny(0x20, 0, 0, 8);  // not even the nlmsghdr
  EXPECT_FALSE(tiny.fits());
  EXPECT_FALSE(tiny.put(1, nullptr, 0));
}

TEST(AttrBuilder, NoAttributeOrNestBeyond16BitLengths) {
  const size_t big = 1 << 20;
  MessageBuilder b(0x20, 0, 0, big);
  Bytes payload(kMaxAttrSize - kAttrHeaderSize + 1, 0x5a);
  EXPECT_FALSE(b.put(1, payload.data(), payload.size()));  // nla_len would be 65536
  EXPECT_FALSE(b.put_strz(1, std::string(kMaxAttrSize - kAttrHeaderSize, 'x')));  // + NUL: one too many
  payload.pop_back();
  EXPECT_TRUE(b.put(1, payload.data(), payload.size()));  // nla_len 65535 exactly

  // A nest may not outgrow 65535 bytes either, however large the message.
  auto nest = b.nest_start(2);
  ASSERT_TRUE(nest);
  Bytes chunk(1000, 1);
  size_t added = 0;
  while (b.put(3, chunk.data(), chunk.size())) added += 1004;
  EXPECT_LE(kAttrHeaderSize + added, kMaxAttrSize);
  EXPECT_GT(kAttrHeaderSize + added + 1004, kMaxAttrSize);
  b.nest_end(*nest);
  Bytes msg = std::move(b).finish();
  const size_t nest_at = 16 + attr_align(kMaxAttrSize);
  const size_t nest_len = msg[nest_at] | (msg[nest_at + 1] << 8);
  EXPECT_EQ(nest_len, kAttrHeaderSize + added);
}

// ---- walker -------------------------------------------------------------------

std::vector<std::pair<uint16_t, Bytes>> walk(const Bytes& bytes, Status* st) {
  std::vector<std::pair<uint16_t, Bytes>> out;
  *st = for_each_attr(bytes, "test stream", [&](const Attr& a) -> Status {
    out.emplace_back(a.type, Bytes(a.data.begin(), a.data.end()));
    return ok_status();
  });
  return out;
}

TEST(AttrWalker, ReadsWhatTheBuilderWrites) {
  MessageBuilder b(0x20, 0, 0, 4096);
  ASSERT_TRUE(b.put_u8(1, 9) && b.put_strz(2, "abc") && b.put_u32(3, 0x01020304));
  auto nest = b.nest_start(4);
  ASSERT_TRUE(nest && b.put_u16(5, 6));
  b.nest_end(*nest);
  Bytes msg = std::move(b).finish();
  Status st;
  auto attrs = walk(Bytes(msg.begin() + 16, msg.end()), &st);
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(attrs.size(), 4u);
  EXPECT_EQ(attrs[0], (std::pair<uint16_t, Bytes>{1, {9}}));
  EXPECT_EQ(attrs[1], (std::pair<uint16_t, Bytes>{2, {'a', 'b', 'c', 0}}));
  EXPECT_EQ(attrs[2], (std::pair<uint16_t, Bytes>{3, {4, 3, 2, 1}}));
  EXPECT_EQ(attrs[3].first, 4);  // NLA_F_NESTED is not part of the type
  auto inner = walk(attrs[3].second, &st);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(inner, (std::vector<std::pair<uint16_t, Bytes>>{{5, {6, 0}}}));
}

TEST(AttrWalker, EmptyStreamHasNoAttributes) {
  Status st;
  EXPECT_TRUE(walk({}, &st).empty());
  EXPECT_TRUE(st.ok());
}

TEST(AttrWalker, LastAttributeMayLackItsPadding) {
  // u8 attribute: 5 bytes, padded to 8. Cut at 5, 6, 7: still whole.
  const Bytes full = {8, 0, 1, 0, 1, 2, 3, 4, 5, 0, 2, 0, 7, 0, 0, 0};
  for (size_t n : {13u, 14u, 15u, 16u}) {
    Status st;
    auto attrs = walk(Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)), &st);
    ASSERT_TRUE(st.ok()) << n << ": " << st.error().message;
    ASSERT_EQ(attrs.size(), 2u);
    EXPECT_EQ(attrs[1].second, Bytes{7});
  }
}

TEST(AttrWalker, PaddingIsSkippedToTheNextAlignedAttribute) {
  // An attribute of length 6 is followed by 2 padding bytes (whatever they
  // hold) and the next attribute at offset 8, not 6.
  const Bytes bytes = {6, 0, 1, 0, 0xaa, 0xbb, 0xee, 0xee, 5, 0, 2, 0, 9, 0, 0, 0};
  Status st;
  auto attrs = walk(bytes, &st);
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(attrs.size(), 2u);
  EXPECT_EQ(attrs[0].second, (Bytes{0xaa, 0xbb}));
  EXPECT_EQ(attrs[1].first, 2);
  EXPECT_EQ(attrs[1].second, Bytes{9});
}

TEST(AttrWalker, TruncatedAttributeIsAnError) {
  // Claims 12 bytes, 8 remain.
  Status st;
  walk({12, 0, 3, 0, 1, 2, 3, 4}, &st);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("test stream: attribute 3 has length 12 but 8 bytes remain"));
  EXPECT_THAT(st.error().message, HasSubstr("overruns"));
}

TEST(AttrWalker, TruncatedHeaderIsAnError) {
  for (size_t trailing : {1u, 2u, 3u}) {
    Bytes bytes = {8, 0, 1, 0, 1, 2, 3, 4};
    bytes.resize(8 + trailing, 0);
    Status st;
    auto attrs = walk(bytes, &st);
    ASSERT_FALSE(st.ok()) << trailing;
    EXPECT_EQ(attrs.size(), 1u);  // the whole attribute before it was handed out
    EXPECT_THAT(st.error().message, HasSubstr(std::to_string(trailing) + " trailing bytes"));
    EXPECT_THAT(st.error().message, HasSubstr("truncated"));
  }
}

TEST(AttrWalker, LengthBelowTheHeaderIsAnError) {
  for (uint8_t len : {0, 1, 3}) {
    Status st;
    walk({len, 0, 9, 0, 0, 0, 0, 0}, &st);
    ASSERT_FALSE(st.ok()) << int(len);
    EXPECT_THAT(st.error().message, HasSubstr("attribute 9 has length " + std::to_string(len) + ", less than"));
  }
}

TEST(AttrWalker, NestOverrunningItsParentIsAnError) {
  // Outer nest of 12 bytes holding an inner attribute that claims 12: its
  // 8 payload bytes are all the inner stream has.
  const Bytes bytes = {12, 0, 1, 0x80, 12, 0, 2, 0, 0, 0, 0, 0, 4, 0, 3, 0};
  Status st;
  auto attrs = walk(bytes, &st);
  ASSERT_TRUE(st.ok());  // the outer stream is well formed
  ASSERT_EQ(attrs.size(), 2u);
  Status inner;
  walk(attrs[0].second, &inner);
  ASSERT_FALSE(inner.ok());
  EXPECT_THAT(inner.error().message, HasSubstr("overruns"));
}

TEST(AttrWalker, StopsAtTheFirstErrorOfTheCallback) {
  const Bytes bytes = {5, 0, 1, 0, 1, 0, 0, 0, 5, 0, 2, 0, 2, 0, 0, 0};
  int seen = 0;
  Status st = for_each_attr(bytes, "s", [&](const Attr& a) -> Status {
    ++seen;
    return a.type == 1 ? make_error("stop") : ok_status();
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "stop");
  EXPECT_EQ(seen, 1);
}

TEST(AttrWalker, WalkerStaysAtAMalformedAttribute) {
  const Bytes bytes = {2, 0, 1, 0};  // the walker only points at its bytes
  AttrWalker w(bytes, "s");
  EXPECT_FALSE(w.next().ok());
  EXPECT_FALSE(w.next().ok());
}

// ---- payload readers ------------------------------------------------------------

Attr attr_of(uint16_t type, const Bytes& payload) { return Attr{type, payload, "RTM_NEWROUTE"}; }

TEST(AttrRead, FixedSizesAreExact) {
  Bytes four = {1, 0, 0, 0};
  auto v = read_fixed<uint32_t>(attr_of(1, four), "RTA_TABLE");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 1u);
  Bytes three = {1, 0, 0};
  auto bad = read_fixed<uint32_t>(attr_of(1, three), "RTA_TABLE");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "RTM_NEWROUTE: RTA_TABLE has 3 bytes, want 4");
  Bytes five = {1, 0, 0, 0, 0};
  EXPECT_FALSE(read_fixed<uint32_t>(attr_of(1, five), "RTA_TABLE").ok());
  EXPECT_FALSE(read_fixed<uint8_t>(attr_of(1, {}), "FRA_PROTOCOL").ok());
}

TEST(AttrRead, InterfaceNames) {
  Bytes good = {'w', 'g', '0', 0};
  auto name = read_ifname(attr_of(3, good), "IFLA_IFNAME");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "wg0");
  Bytes padded = {'w', 'g', '0', 0, 0, 0};  // bytes after the NUL are ignored
  EXPECT_EQ(*read_ifname(attr_of(3, padded), "IFLA_IFNAME"), "wg0");

  Bytes no_nul = {'w', 'g', '0'};
  auto r = read_ifname(attr_of(3, no_nul), "IFLA_IFNAME");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("IFLA_IFNAME is not NUL-terminated"));
  EXPECT_FALSE(read_ifname(attr_of(3, {}), "IFLA_IFNAME").ok());
  EXPECT_FALSE(read_ifname(attr_of(3, {0}), "IFLA_IFNAME").ok());  // empty name
  Bytes sixteen(16, 'a');
  sixteen.push_back(0);  // 16 characters: one more than IFNAMSIZ allows
  r = read_ifname(attr_of(3, sixteen), "IFLA_IFNAME");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("length 16"));
  Bytes fifteen(15, 'a');
  fifteen.push_back(0);
  EXPECT_TRUE(read_ifname(attr_of(3, fifteen), "IFLA_IFNAME").ok());
}

}  // namespace
}  // namespace wgate::netlink
