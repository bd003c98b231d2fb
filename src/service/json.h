// JSON forms of the service's answers, shared by `wgate --json` and, next,
// the HTTP API, so that both speak the same shapes. Times are Unix seconds;
// absent values are null.
#pragma once

#include <nlohmann/json.hpp>

#include "core/explain.h"
#include "core/plan.h"
#include "core/plan_preview.h"
#include "service/service.h"

namespace wgate::service {

nlohmann::json to_json(const PersonView& person);
nlohmann::json to_json(const KeyView& key);
nlohmann::json to_json(const GroupView& group);
nlohmann::json to_json(const WhoisAnswer& answer);
nlohmann::json to_json(const ClientConfigView& config);
nlohmann::json to_json(const StatusView& status);
nlohmann::json to_json(const Plan& plan);
nlohmann::json to_json(const PlanPreview& preview);
nlohmann::json to_json(const Explanation& e);
nlohmann::json to_json(const AuditRecord& record);
nlohmann::json to_json(const LeaseMove& move);
nlohmann::json to_json(const FlowRecord& flow);
nlohmann::json to_json(const FlowPage& page);
nlohmann::json to_json(const TrafficView& traffic);

}  // namespace wgate::service
