// Who held an address at a time, from lease and device history: the one
// answer behind `whois` and the attribution of flow records. Private to the
// service layer.
#pragma once

#include <map>
#include <vector>

#include "service/views.h"
#include "store/store.h"

namespace wgate::service {

// What answering needs besides an address's lease history: read once, then
// used for any number of addresses and times (record_flows attributes a
// whole batch with one read).
// Indexed by owner, so attributing one address costs the person's own
// devices and keys, not everyone's (a traffic sample attributes thousands).
struct AttributionContext {
  std::map<int64_t, User> users;
  std::map<int64_t, std::vector<Device>> devices_by_user;  // removed ones too: history
  std::map<int64_t, std::vector<Key>> keys_by_device;
};
Result<AttributionContext> load_attribution_context(Store& store);

// The person and device(s) that held `address` at `at`, given every lease
// whose block held it (Store::lease_history). Pure.
WhoisAnswer attribute(const IpAddress& address, UnixTime at, const std::vector<Lease>& history,
                      const AttributionContext& context);

}  // namespace wgate::service
