// What the service layer answers with: plain values that the CLI prints
// and the HTTP API serialises (service/json.h), so both say the same.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/cidr.h"
#include "core/model.h"
#include "core/netstate.h"

namespace wgate::service {

struct DeviceView {
  Device device;
  std::optional<IpAddress> address;  // none while the person holds no block (disabled)
};

struct PersonView {
  User user;
  std::optional<Prefix> block;        // the person's current block
  std::vector<std::string> groups;    // sorted
  std::vector<DeviceView> devices;    // current ones, by slot
};

struct KeyView {
  Key key;
  std::string user;
  std::string device;
  std::optional<IpAddress> address;  // the device's address now
  KeyState state = KeyState::never_used;
};

struct GroupView {
  std::string name;
  std::string interface;
  uint16_t port = 0;
  uint32_t table = 0;
  std::vector<std::string> networks;
  std::vector<std::string> members;  // sorted
};

// Who held an address at a time: the person (by their block) and the device
// (by its slot in the block), with the keys that were valid then.
struct WhoisAnswer {
  IpAddress address;
  UnixTime at = 0;
  std::optional<User> user;
  std::optional<Prefix> block;   // the block that held the address at `at`
  std::optional<Lease> lease;
  // The device(s) the address belonged to at `at`: the one in the address's
  // slot of the block; for a single-address block from before devices had
  // their own addresses (migrated stores), every device of the person that
  // had a key valid then, since they all shared it.
  std::vector<Device> devices;
  std::vector<Key> keys;         // their keys valid at `at`
  struct HistoryEntry {
    std::string user;
    Prefix block;
    UnixTime from = 0;
    std::optional<UnixTime> until;
  };
  std::vector<HistoryEntry> history;  // every lease whose block held the address, oldest first
};

struct ClientConfigView {
  KeyView key;
  std::string group;
  std::string text;  // the wg-quick config
};

struct PeerStatus {
  WgPeerState peer;
  std::optional<int64_t> key_id;
  std::string user;    // empty when the key is not wgate's
  std::string device;
};

struct InterfaceStatus {
  std::string name;
  std::string group;
  uint16_t port = 0;
  bool up = false;
  std::string error;
  std::optional<WgKey> public_key;
  uint16_t listen_port = 0;
  std::vector<PeerStatus> peers;
};

struct StatusView {
  std::string backend;
  std::vector<InterfaceStatus> interfaces;
};

}  // namespace wgate::service
