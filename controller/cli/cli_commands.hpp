// Subcommands of the caregate CLI. Each returns the process exit code: 0 ok, 1 refused or failed
// (the message says why), 2 bad config or usage.
#pragma once

#include <functional>
#include <string>

#include "config/config.hpp"
#include "controller/core/store.hpp"

namespace CLI {
class App;
}

namespace caregate {

struct CommandContext {
    std::string config_path;
    std::string out_path;
    int exit_code = 0;
};

// A site's config and its store, opened (and migrated) for a command body run inside guarded().
struct OpenSite {
    explicit OpenSite(const std::string& config_path)
        : cfg(config::load_config(config_path)), store(cfg.store.path, cfg.store.busy_timeout_ms) {}
    config::SiteConfig cfg;
    Store store;
};

// Runs a command body: a config or device-model error exits 2, any other error 1, each with its
// message on stderr (cli_extra.cpp).
void guarded(CommandContext& ctx, const std::function<int()>& body);

int cmd_run(CommandContext& ctx);
int cmd_check_config(CommandContext& ctx);
int cmd_db_migrate(CommandContext& ctx);
int cmd_db_backup(CommandContext& ctx);

void register_alarm_commands(CLI::App& app, CommandContext& ctx);
void register_elder_commands(CLI::App& app, CommandContext& ctx);
// `caregate elders import FILE [--dry-run]` (cli_elders.cpp); after register_elder_commands.
void register_elder_import_command(CLI::App& app, CommandContext& ctx);
// Commands contributed by later parts (face, sim, staff, events, city); see cli_extra.cpp.
void register_extra_commands(CLI::App& app, CommandContext& ctx);
// `caregate devices models|check|try` (cli_devices.cpp).
void register_device_commands(CLI::App& app, CommandContext& ctx);
// `caregate care worklist|replay`, `caregate meals statement`, and `sim history` under `sim`
// (cli_care.cpp).
void register_care_commands(CLI::App& app, CLI::App& sim, CommandContext& ctx);
// `caregate face calibrate|renewals`: a site's own gallery (cli_face_site.cpp); under `face`.
void register_face_site_commands(CLI::App& face, CommandContext& ctx);
// `caregate tls selfsigned|check` (cli_tls.cpp).
void register_tls_commands(CLI::App& app, CommandContext& ctx);
// `caregate door pair|list|revoke` (cli_door.cpp).
void register_door_commands(CLI::App& app, CommandContext& ctx);

}  // namespace caregate
