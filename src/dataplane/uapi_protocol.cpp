#include "dataplane/uapi_protocol.h"

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

namespace wgate {

namespace {

// Parses a whole decimal number; no sign for unsigned types, no '+', no
// spaces, no trailing junk.
template <class T>
std::optional<T> parse_number(std::string_view text) {
  if (text.empty() || text.front() == '+') return std::nullopt;
  if constexpr (std::is_unsigned_v<T>) {
    if (text.front() == '-') return std::nullopt;
  }
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// The protocol's keys are lowercase hex; WgKey::from_hex also accepts upper
// case, which no conforming implementation sends.
Result<WgKey> parse_lower_hex_key(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return make_error("key is not 64 lowercase hex characters");
    }
  }
  return WgKey::from_hex(text);
}

// "a.b.c.d:port" or "[v6]:port" (an IPv6 address may carry a "%zone").
bool valid_endpoint(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = text.substr(0, colon);
  auto port = parse_number<uint16_t>(text.substr(colon + 1));
  if (!port) return false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    size_t zone = host.find('%');
    if (zone != std::string_view::npos) {
      std::string_view zone_name = host.substr(zone + 1);
      if (zone_name.empty()) return false;
      for (char c : zone_name) {
        if (static_cast<unsigned char>(c) <= ' ' || c == '=' || c == 0x7f) return false;
      }
      host = host.substr(0, zone);
    }
    auto ip = IpAddress::parse(host);
    return ip.ok() && !ip->is_v4();
  }
  auto ip = IpAddress::parse(host);
  return ip.ok() && ip->is_v4();
}

bool valid_key_name(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

Error line_error(size_t line_no, std::string_view key, std::string_view value, std::string_view why) {
  // Secrets are never echoed into errors (they end up in logs).
  bool secret = key == "private_key" || key == "preshared_key";
  std::string shown = secret ? "<" + std::to_string(value.size()) + " characters, not shown>"
                             : "\"" + std::string(value.substr(0, 80)) + "\"";
  return make_error("uapi reply line " + std::to_string(line_no) + ": bad " + std::string(key) + " " + shown + ": " +
                    std::string(why));
}

// Parses the "errno=N" value shared by get and set replies.
std::optional<int> parse_errno(std::string_view value) { return parse_number<int>(value); }

Error errno_reply_error(int err) {
  // INT_MIN has no positive counterpart; report it without sys_errno.
  int positive = err == std::numeric_limits<int>::min() ? 0 : (err < 0 ? -err : err);
  return Error{"uapi replied errno=" + std::to_string(err) + (positive > 0 ? std::string(" (") + std::strerror(positive) + ")" : ""),
               positive};
}

// Splits `reply` into its lines before the terminating empty line and checks
// that nothing follows the terminator.
Result<std::vector<std::string_view>> split_reply(std::string_view reply) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (true) {
    size_t nl = reply.find('\n', pos);
    if (nl == std::string_view::npos) {
      return make_error("uapi reply is truncated: no terminating empty line after line " +
                        std::to_string(lines.size()));
    }
    std::string_view line = reply.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) break;
    lines.push_back(line);
  }
  if (pos != reply.size()) {
    return make_error("uapi reply has " + std::to_string(reply.size() - pos) + " bytes after its terminator");
  }
  return lines;
}

}  // namespace

Status validate_set_request(const WgDeviceUpdate& update) {
  for (const auto& peer : update.peers) {
    if (peer.endpoint && !peer.endpoint->empty() && !valid_endpoint(*peer.endpoint)) {
      return make_error("peer " + peer.public_key.to_base64() + ": invalid endpoint \"" +
                        peer.endpoint->substr(0, 80) + "\" (want ip:port or [ip6]:port)");
    }
  }
  return ok_status();
}

std::string format_set_request(const WgDeviceUpdate& update) {
  std::string out;
  // ~200 bytes covers a typical peer (key, allowed IP, flags).
  out.reserve(64 + 200 * update.peers.size());
  auto line = [&out](std::string_view key, std::string_view value) {
    out.append(key);
    out.push_back('=');
    out.append(value);
    out.push_back('\n');
  };
  out.append("set=1\n");
  if (update.private_key) line("private_key", update.private_key->to_hex());
  if (update.listen_port) line("listen_port", std::to_string(*update.listen_port));
  if (update.fwmark) line("fwmark", std::to_string(*update.fwmark));
  if (update.replace_peers) line("replace_peers", "true");
  for (const auto& peer : update.peers) {
    line("public_key", peer.public_key.to_hex());
    if (peer.remove) {
      // Anything after remove=true would apply to a dummy peer: skip it.
      line("remove", "true");
      continue;
    }
    // An empty endpoint cannot be expressed in UAPI (no way to clear one).
    if (peer.endpoint && !peer.endpoint->empty()) line("endpoint", *peer.endpoint);
    if (peer.persistent_keepalive) line("persistent_keepalive_interval", std::to_string(*peer.persistent_keepalive));
    if (peer.replace_allowed_ips) line("replace_allowed_ips", "true");
    for (const auto& prefix : peer.allowed_ips) line("allowed_ip", prefix.to_string());
  }
  out.push_back('\n');
  return out;
}

Result<WgDeviceState> parse_get_reply(std::string_view reply) {
  WGATE_ASSIGN_OR_RETURN(auto lines, split_reply(reply));
  WgDeviceState state;
  WgPeerState* peer = nullptr;
  std::optional<int> err;
  for (size_t i = 0; i < lines.size(); ++i) {
    const size_t line_no = i + 1;
    std::string_view line = lines[i];
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return make_error("uapi reply line " + std::to_string(line_no) + ": no '=' in \"" +
                        std::string(line.substr(0, 80)) + "\"");
    }
    std::string_view key = line.substr(0, eq);
    std::string_view value = line.substr(eq + 1);
    if (!valid_key_name(key)) {
      return make_error("uapi reply line " + std::to_string(line_no) + ": malformed key \"" +
                        std::string(key.substr(0, 80)) + "\"");
    }
    if (err) return line_error(line_no, key, value, "line after errno");

    auto bad = [&](std::string_view why) { return line_error(line_no, key, value, why); };

    if (key == "errno") {
      err = parse_errno(value);
      if (!err) return bad("not a decimal integer");
      continue;
    }
    if (key == "public_key") {
      auto k = parse_lower_hex_key(value);
      if (!k.ok()) return bad(k.error().message);
      state.peers.emplace_back();
      peer = &state.peers.back();
      peer->public_key = *k;
      continue;
    }
    if (peer == nullptr) {
      // Device section.
      if (key == "private_key") {
        auto k = parse_lower_hex_key(value);
        if (!k.ok()) return bad(k.error().message);
        state.private_key = *k;
      } else if (key == "listen_port") {
        auto v = parse_number<uint16_t>(value);
        if (!v) return bad("not a port number");
        state.listen_port = *v;
      } else if (key == "fwmark") {
        auto v = parse_number<uint32_t>(value);
        if (!v) return bad("not a 32-bit unsigned integer");
        state.fwmark = *v;
      } else if (key == "preshared_key" || key == "protocol_version" || key == "endpoint" ||
                 key == "last_handshake_time_sec" || key == "last_handshake_time_nsec" || key == "rx_bytes" ||
                 key == "tx_bytes" || key == "persistent_keepalive_interval" || key == "allowed_ip") {
        return bad("peer key before any public_key");
      }
      continue;  // unknown device key: tolerated
    }
    // Peer section.
    if (key == "preshared_key") {
      auto k = parse_lower_hex_key(value);
      if (!k.ok()) return bad(k.error().message);
    } else if (key == "protocol_version") {
      auto v = parse_number<int>(value);
      if (!v || *v != 1) return bad("unsupported protocol version");
    } else if (key == "endpoint") {
      if (!valid_endpoint(value)) return bad("not ip:port or [ip6]:port");
      peer->endpoint = std::string(value);
    } else if (key == "last_handshake_time_sec") {
      auto v = parse_number<int64_t>(value);
      if (!v || *v < 0) return bad("not a non-negative integer");
      peer->last_handshake_sec = *v;
    } else if (key == "last_handshake_time_nsec") {
      auto v = parse_number<int64_t>(value);
      if (!v || *v < 0 || *v >= 1'000'000'000) return bad("not a nanosecond count");
      peer->last_handshake_nsec = *v;
    } else if (key == "rx_bytes") {
      auto v = parse_number<uint64_t>(value);
      if (!v) return bad("not a 64-bit unsigned integer");
      peer->rx_bytes = *v;
    } else if (key == "tx_bytes") {
      auto v = parse_number<uint64_t>(value);
      if (!v) return bad("not a 64-bit unsigned integer");
      peer->tx_bytes = *v;
    } else if (key == "persistent_keepalive_interval") {
      auto v = parse_number<uint16_t>(value);
      if (!v) return bad("not a 16-bit unsigned integer");
      peer->persistent_keepalive = *v;
    } else if (key == "allowed_ip") {
      // Implementations print masked prefixes; mask anyway rather than
      // reject host bits, which are not a syntax error.
      size_t slash = value.find('/');
      if (slash == std::string_view::npos) return bad("no prefix length");
      auto addr = IpAddress::parse(value.substr(0, slash));
      if (!addr.ok()) return bad(addr.error().message);
      auto len = parse_number<int>(value.substr(slash + 1));
      if (!len || *len < 0 || *len > addr->bit_width()) return bad("bad prefix length");
      peer->allowed_ips.emplace_back(*addr, *len);
    }
    // Unknown peer keys (and device keys repeated here) are tolerated.
  }
  if (!err) return make_error("uapi reply has no errno line");
  if (*err != 0) return errno_reply_error(*err);
  if (state.private_key) {
    auto pub = state.private_key->public_key();
    if (!pub.ok()) return pub.error().with_context("uapi reply: deriving public key");
    state.public_key = *pub;
  }
  return state;
}

Result<int> parse_set_reply(std::string_view reply) {
  WGATE_ASSIGN_OR_RETURN(auto lines, split_reply(reply));
  if (lines.size() != 1) {
    return make_error("uapi set reply has " + std::to_string(lines.size()) + " lines, want exactly errno=N");
  }
  std::string_view line = lines[0];
  if (line.substr(0, 6) != "errno=") {
    return make_error("uapi set reply: want errno=N, got \"" + std::string(line.substr(0, 80)) + "\"");
  }
  auto err = parse_errno(line.substr(6));
  if (!err) return make_error("uapi set reply line 1: bad errno \"" + std::string(line.substr(6, 80)) + "\"");
  return *err;
}

bool uapi_reply_complete(std::string_view buffer) {
  return (!buffer.empty() && buffer.front() == '\n') || buffer.find("\n\n") != std::string_view::npos;
}

}  // namespace wgate
