// wgate token create|list|revoke: admin API tokens (service/admin.h).
#include <iostream>

#include "cli/commands.h"
#include "core/time_text.h"
#include "service/admin.h"

namespace wgate::cli {
namespace {

nlohmann::json token_json(const ApiToken& t, UnixTime now) {
  auto opt = [](const std::optional<UnixTime>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return {{"name", t.name},
          {"scope", t.scope},
          {"created_at", t.created_at},
          {"created_by", t.created_by},
          {"expires_at", t.expires_at},
          {"revoked_at", opt(t.revoked_at)},
          {"last_used_at", opt(t.last_used_at)},
          {"state", t.revoked_at ? "revoked" : (t.live_at(now) ? "active" : "expired")}};
}

}  // namespace

void register_token_commands(CLI::App& app, Context& ctx) {
  auto* token = app.add_subcommand("token", "Admin API tokens (Authorization: Bearer)")->require_subcommand(1);

  auto& req = ctx.options<service::CreateTokenRequest>();
  auto* create = token->add_subcommand("create", "Make a token; it is printed once and stored only hashed");
  create->add_option("name", req.name, "A name for it (a-z 0-9 . _ -), unique for ever")->required();
  create->add_option("--scope", req.scope, "read (GET only) or write")->capture_default_str();
  create->add_option("--ttl", req.ttl, "How long it lives, e.g. 30d")->capture_default_str();
  create->callback([&ctx, &req] {
    auto created = get_or_fail(service::create_api_token(ctx.store(), req, ctx.now(), ctx.actor()));
    auto j = token_json(created.token, ctx.now());
    j["token"] = created.secret;
    ctx.emit(j, [&] {
      std::cout << "token " << created.token.name << " (" << created.token.scope << ", expires "
                << format_utc(created.token.expires_at) << "); shown only now:\n"
                << created.secret << "\n";
    });
  });

  auto* list = token->add_subcommand("list", "List tokens (never their secrets)");
  list->callback([&ctx] {
    auto tokens = get_or_fail(service::list_api_tokens(ctx.store()));
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& t : tokens) arr.push_back(token_json(t, ctx.now()));
    ctx.emit(arr, [&] {
      std::printf("%-24s %-6s %-8s %-21s %-21s %s\n", "NAME", "SCOPE", "STATE", "EXPIRES", "LAST USED", "CREATED BY");
      for (const auto& t : tokens) {
        std::printf("%-24s %-6s %-8s %-21s %-21s %s\n", t.name.c_str(), t.scope.c_str(),
                    t.revoked_at ? "revoked" : (t.live_at(ctx.now()) ? "active" : "expired"),
                    format_utc(t.expires_at).c_str(), t.last_used_at ? format_utc(*t.last_used_at).c_str() : "-",
                    t.created_by.c_str());
      }
    });
  });

  auto& name = ctx.options<std::string>();
  auto* revoke = token->add_subcommand("revoke", "Revoke a token at once");
  revoke->add_option("name", name, "The token's name")->required();
  revoke->callback([&ctx, &name] {
    check(service::revoke_api_token(ctx.store(), name, ctx.now(), ctx.actor()));
    ctx.emit({{"revoked", name}}, [&] { std::cout << "revoked token " << name << "\n"; });
  });
}

}  // namespace wgate::cli
