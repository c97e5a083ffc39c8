#include "controller/cli/cli_commands.hpp"

#include <CLI/CLI.hpp>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/city/outbox.hpp"
#include "controller/core/log.hpp"
#include "controller/core/store.hpp"
#include "controller/daemon.hpp"
#include "controller/people/roster.hpp"

namespace caregate {

using nlohmann::json;

namespace {

// Loads the config or prints why not; exit code 2 on failure.
bool load(CommandContext& ctx, config::SiteConfig& out) {
    try {
        out = config::load_config(ctx.config_path);
        return true;
    } catch (const config::ConfigError& e) {
        std::cerr << "caregate: " << e.what() << "\n";
        ctx.exit_code = 2;
        return false;
    }
}

std::string local_time(int64_t ms) {
    time_t t = static_cast<time_t>(ms / 1000 + 8 * 3600);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

// Runs fn with a store opened from the config; turns errors into messages and exit codes.
template <typename F>
int with_store(CommandContext& ctx, F&& fn) {
    config::SiteConfig cfg;
    if (!load(ctx, cfg)) return 2;
    try {
        Store store(cfg.store.path, cfg.store.busy_timeout_ms);
        return fn(cfg, store);
    } catch (const AlarmError& e) {
        std::cerr << "caregate: " << e.what() << "\n";
        return 1;
    } catch (const std::invalid_argument& e) {
        std::cerr << "caregate: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "caregate: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace

int cmd_check_config(CommandContext& ctx) {
    config::SiteConfig cfg;
    if (!load(ctx, cfg)) return 2;
    std::cout << ctx.config_path << ": ok\n" << config::summarize(cfg);
    return 0;
}

int cmd_run(CommandContext& ctx) {
    config::SiteConfig cfg;
    if (!load(ctx, cfg)) return 2;
    init_logging(cfg.log.level);
    block_signals();
    try {
        Daemon d(std::move(cfg));
        return d.run();
    } catch (const std::exception& e) {
        logger("daemon")->critical("cannot start: {}", e.what());
        std::cerr << "caregate: cannot start: " << e.what() << "\n";
        return 1;
    }
}

int cmd_db_migrate(CommandContext& ctx) {
    config::SiteConfig cfg;
    if (!load(ctx, cfg)) return 2;
    try {
        Store store(cfg.store.path, cfg.store.busy_timeout_ms, false);
        int before = store.schema_version();
        int n = store.migrate();
        std::cout << cfg.store.path << ": schema " << before << " -> " << store.schema_version() << " (" << n
                  << " migration" << (n == 1 ? "" : "s") << " applied)\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "caregate: " << e.what() << "\n";
        return 1;
    }
}

int cmd_db_backup(CommandContext& ctx) {
    return with_store(ctx, [&](const config::SiteConfig&, Store& store) {
        store.backup_to(ctx.out_path);
        std::cout << "backup written to " << ctx.out_path << "\n";
        return 0;
    });
}

void register_alarm_commands(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        int64_t id = 0;
        std::string actor = "cli";
        std::string target, outcome, note;
        bool all = false, as_json = false;
    };
    auto o = std::make_shared<Opts>();
    auto* alarms = app.add_subcommand("alarms", "list and handle alarms without the kiosk");
    alarms->require_subcommand(1);
    alarms->add_option("--config,-c", ctx.config_path, "site config")->required();
    alarms->add_option("--by", o->actor, "who does it (staff name)");

    auto service = [](const config::SiteConfig& cfg, Store& store, const Clock& clock, const Outbox& outbox) {
        return AlarmService(store, clock, outbox,
                            AlarmPolicy{cfg.alarms.ack_timeout_s, cfg.alarms.resolve_timeout_s});
    };

    auto* list = alarms->add_subcommand("list", "open alarms (--all for every alarm)");
    list->add_flag("--all", o->all);
    list->add_flag("--json", o->as_json);
    list->callback([&ctx, o, service] {
        ctx.exit_code = with_store(ctx, [&](const config::SiteConfig& cfg, Store& store) {
            SystemClock clock;
            Outbox outbox(cfg.site.id, cfg.site.region);
            auto svc = service(cfg, store, clock, outbox);
            for (auto& a : svc.list(!o->all)) {
                if (o->as_json) {
                    std::cout << to_json(*svc.get(a.id)).dump() << "\n";
                } else {
                    std::cout << a.id << "  " << local_time(a.raised_at) << "  " << a.kind << "  " << a.source
                              << "  " << a.zone << "  " << a.state << "  level " << a.level << "  presses "
                              << a.presses << "\n";
                }
            }
            return 0;
        });
    });

    auto act = [&ctx, o, service](const std::string& what) {
        ctx.exit_code = with_store(ctx, [&](const config::SiteConfig& cfg, Store& store) {
            SystemClock clock;
            Outbox outbox(cfg.site.id, cfg.site.region);
            auto svc = service(cfg, store, clock, outbox);
            Alarm a;
            if (what == "ack")
                a = svc.acknowledge(o->id, o->actor, o->note);
            else if (what == "dispatch")
                a = svc.dispatch(o->id, o->target, o->actor, o->note);
            else
                a = svc.resolve(o->id, o->outcome, o->actor, o->note);
            std::cout << "alarm " << a.id << " is now " << a.state << "\n";
            return 0;
        });
    };
    auto* ack = alarms->add_subcommand("ack", "acknowledge an alarm");
    ack->add_option("id", o->id)->required();
    ack->add_option("--note", o->note);
    ack->callback([act] { act("ack"); });
    auto* dispatch =
        alarms->add_subcommand("dispatch", "record who was called: 110 120 119 family city_hotline staff");
    dispatch->add_option("id", o->id)->required();
    dispatch->add_option("target", o->target)->required();
    dispatch->add_option("--note", o->note);
    dispatch->callback([act] { act("dispatch"); });
    auto* resolve = alarms->add_subcommand("resolve", "close an alarm with its outcome");
    resolve->add_option("id", o->id)->required();
    resolve->add_option("--outcome", o->outcome, "what happened")->required();
    resolve->add_option("--note", o->note);
    resolve->callback([act] { act("resolve"); });
}

void register_elder_commands(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        std::string json_text, search, by = "cli", consent_by;
        int64_t id = 0;
    };
    auto o = std::make_shared<Opts>();
    auto* elders = app.add_subcommand("elders", "the roster (一人一档)");
    elders->require_subcommand(1);
    elders->add_option("--config,-c", ctx.config_path, "site config")->required();
    elders->add_option("--by", o->by, "who does it (staff name)");
    auto* add = elders->add_subcommand(
        "add", "add an elder from JSON, e.g. '{\"name\":\"张桂英\",\"gender\":\"女\"}'");
    add->add_option("json", o->json_text)->required();
    add->callback([&ctx, o] {
        ctx.exit_code = with_store(ctx, [&](const config::SiteConfig&, Store& store) {
            SystemClock clock;
            Roster roster(store, clock);
            Elder e;
            auto j = json::parse(o->json_text, nullptr, false);
            if (j.is_discarded()) throw std::invalid_argument("the elder must be valid JSON");
            update_from_json(e, j);
            e = roster.save(e, o->by);
            std::cout << e.id << "\n";
            return 0;
        });
    });
    auto* list = elders->add_subcommand("list", "list elders as JSON lines");
    list->add_option("--search", o->search);
    list->callback([&ctx, o] {
        ctx.exit_code = with_store(ctx, [&](const config::SiteConfig&, Store& store) {
            SystemClock clock;
            Roster roster(store, clock);
            for (auto& e : roster.list(o->search)) std::cout << to_json(e).dump() << "\n";
            return 0;
        });
    });
    auto* consent =
        elders->add_subcommand("consent", "record the elder's separate consent to face recognition");
    consent->add_option("id", o->id)->required();
    consent->add_option("--consent-by", o->consent_by, "staff who recorded the consent")->required();
    consent->callback([&ctx, o] {
        ctx.exit_code = with_store(ctx, [&](const config::SiteConfig&, Store& store) {
            SystemClock clock;
            Roster(store, clock).record_consent(o->id, o->consent_by, o->by);
            std::cout << "consent recorded for elder " << o->id << "\n";
            return 0;
        });
    });
}

}  // namespace caregate
