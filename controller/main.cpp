// caregate: the command line. `run` starts the daemon; the other subcommands work headless on
// the same store, so staff and integrators can script everything the kiosk does.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/cli/cli_commands.hpp"
#include "controller/core/log.hpp"
#include "controller/core/store.hpp"
#include "controller/daemon.hpp"
#include "vision/blas_threads.hpp"

using namespace caregate;

int main(int argc, char** argv) {
    vision::use_one_blas_thread();  // before any thread of ours: vision/blas_threads.hpp
    CLI::App app{"CareGate — edge controller for community elder-care centers"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string(CAREGATE_VERSION));
    CommandContext ctx;

    auto* version = app.add_subcommand("version", "print the version");
    version->callback([] { std::cout << "caregate " << CAREGATE_VERSION << "\n"; });

    auto* run = app.add_subcommand("run", "run the daemon");
    run->add_option("--config,-c", ctx.config_path, "site config (YAML)")->required();
    run->callback([&] { ctx.exit_code = cmd_run(ctx); });

    auto* check = app.add_subcommand("check-config", "validate a config and print a normalized summary");
    check->add_option("file", ctx.config_path, "site config (YAML)")->required();
    check->callback([&] { ctx.exit_code = cmd_check_config(ctx); });

    auto* db = app.add_subcommand("db", "database maintenance");
    db->require_subcommand(1);
    auto* migrate = db->add_subcommand("migrate", "apply pending schema migrations");
    migrate->add_option("--config,-c", ctx.config_path)->required();
    migrate->callback([&] { ctx.exit_code = cmd_db_migrate(ctx); });
    auto* backup = db->add_subcommand("backup", "online backup with the SQLite backup API");
    backup->add_option("out", ctx.out_path, "backup file to write")->required();
    backup->add_option("--config,-c", ctx.config_path)->required();
    backup->callback([&] { ctx.exit_code = cmd_db_backup(ctx); });

    register_alarm_commands(app, ctx);
    register_elder_commands(app, ctx);
    register_elder_import_command(app, ctx);
    register_extra_commands(app, ctx);
    register_device_commands(app, ctx);

    // Let `--config` be given after the leaf command too: `caregate staff add x --config f`.
    std::function<void(CLI::App*)> fall = [&](CLI::App* a) {
        for (auto* sub : a->get_subcommands([](CLI::App*) { return true; })) {
            sub->fallthrough();
            fall(sub);
        }
    };
    fall(&app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return ctx.exit_code;
}
