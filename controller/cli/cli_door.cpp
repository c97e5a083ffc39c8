// `caregate door pair|list|revoke`: door screens as paired devices, from the command line (an
// installer setting up a new screen without a kiosk login).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "config/config.hpp"
#include "controller/cli/cli_commands.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"
#include "controller/kiosk/door_displays.hpp"

namespace caregate {

void register_door_commands(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        std::string name = "门口屏", by = "cli";
        int64_t id = 0;
    };
    auto o = std::make_shared<Opts>();
    auto* door = app.add_subcommand("door", "door screens (门口屏): pairing and revoking");
    door->require_subcommand(1);
    auto* pair =
        door->add_subcommand("pair", "make a one-time pairing code (valid 10 minutes) for a new screen");
    pair->add_option("--config,-c", ctx.config_path)->required();
    pair->add_option("--name", o->name, "what staff call the screen")->capture_default_str();
    pair->add_option("--by", o->by, "who made it (audit log)")->capture_default_str();
    pair->callback([&ctx, o] {
        guarded(ctx, [&]() -> int {
            OpenSite site(ctx.config_path);
            SystemClock clock;
            std::string code = DoorDisplays(site.store, clock).new_code(o->name, o->by);
            std::cout << code << "\n"
                      << "open " << (site.cfg.kiosk.https() ? "https" : "http")
                      << "://<box>:" << site.cfg.kiosk.port << "/door?pair=" << code
                      << " on the screen within 10 minutes\n";
            return 0;
        });
    });
    auto* list = door->add_subcommand("list", "paired screens");
    list->add_option("--config,-c", ctx.config_path)->required();
    list->callback([&ctx] {
        guarded(ctx, [&]() -> int {
            OpenSite site(ctx.config_path);
            SystemClock clock;
            for (auto& d : DoorDisplays(site.store, clock).list())
                std::cout << d.id << "\t" << d.name << "\t" << (d.revoked_at ? "revoked" : "paired") << "\n";
            return 0;
        });
    });
    auto* revoke = door->add_subcommand("revoke", "stop serving a screen (lost, replaced)");
    revoke->add_option("--config,-c", ctx.config_path)->required();
    revoke->add_option("id", o->id, "its id (door list)")->required();
    revoke->add_option("--by", o->by, "who revoked it (audit log)")->capture_default_str();
    revoke->callback([&ctx, o] {
        guarded(ctx, [&]() -> int {
            OpenSite site(ctx.config_path);
            SystemClock clock;
            if (!DoorDisplays(site.store, clock).revoke(o->id, o->by)) {
                std::cerr << "caregate: no paired door screen " << o->id << "\n";
                return 1;
            }
            std::cout << "door screen " << o->id << " revoked\n";
            return 0;
        });
    });
}

}  // namespace caregate
