// `caregate care worklist|replay`, `caregate meals statement` and `caregate sim history`: the care
// worklist, its rules over history, and the meal statement from the command line (and for tests).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "config/config.hpp"
#include "controller/care/calendar.hpp"
#include "controller/care/history_sim.hpp"
#include "controller/care/meals.hpp"
#include "controller/care/planner.hpp"
#include "controller/city/outbox.hpp"
#include "controller/cli/cli_commands.hpp"
#include "controller/core/clock.hpp"
#include "controller/core/store.hpp"

namespace caregate {

namespace {
struct CareOptions {
    std::string date, from, to, month, end;
    int days = 90, elders = 30;
    uint32_t seed = 1;
};
}  // namespace

void register_care_commands(CLI::App& app, CLI::App& sim, CommandContext& ctx) {
    auto o = std::make_shared<CareOptions>();
    auto* care = app.add_subcommand("care", "who needs a visit or a call: 探访关爱 and 缺勤关怀");
    care->require_subcommand(1);

    auto* wl = care->add_subcommand("worklist", "print the day's tasks, one JSON line each");
    wl->add_option("--config,-c", ctx.config_path)->required();
    wl->add_option("--date", o->date, "YYYY-MM-DD (default: today)");
    wl->callback([&ctx, o] {
        guarded(ctx, [&]() -> int {
            OpenSite site(ctx.config_path);
            SystemClock clock;
            care::CarePlanner planner(site.cfg, site.store, clock);
            int day = o->date.empty() ? planner.today() : care::parse_date(o->date);
            for (auto& t : planner.worklist(day))
                std::cout << nlohmann::json{{"elder_id", t.elder_id},
                                            {"name", t.name},
                                            {"task", t.task},
                                            {"due", t.due},
                                            {"reason", t.reason},
                                            {"detail", t.detail},
                                            {"overdue_days", t.overdue_days},
                                            {"tier", t.tier},
                                            {"visitor", t.visitor}}
                                 .dump()
                          << "\n";
            return 0;
        });
    });

    auto* rp =
        care->add_subcommand("replay", "run the care rules over stored history; print one JSON object");
    rp->add_option("--config,-c", ctx.config_path)->required();
    rp->add_option("--from", o->from, "YYYY-MM-DD")->required();
    rp->add_option("--to", o->to, "YYYY-MM-DD")->required();
    rp->callback([&ctx, o] {
        guarded(ctx, [&]() -> int {
            OpenSite site(ctx.config_path);
            SystemClock clock;
            care::CarePlanner planner(site.cfg, site.store, clock);
            std::cout << planner.replay(care::parse_date(o->from), care::parse_date(o->to)).dump() << "\n";
            return 0;
        });
    });

    auto* meals = app.add_subcommand("meals", "助餐: the month's subsidy statement");
    meals->require_subcommand(1);
    auto* st = meals->add_subcommand("statement", "the month's statement per subsidy category, as CSV");
    st->add_option("--config,-c", ctx.config_path)->required();
    st->add_option("--month", o->month, "YYYY-MM")->required();
    st->callback([&ctx, o] {
        guarded(ctx, [&]() -> int {
            OpenSite site(ctx.config_path);
            SystemClock clock;
            Outbox outbox(site.cfg.site.id, site.cfg.site.region);
            care::MealService service(site.cfg, site.store, clock, outbox);
            std::cout << service.statement_csv(o->month);
            return 0;
        });
    });

    auto* hist =
        sim.add_subcommand("history", "fill the store with N days of synthetic history (demo, tests)");
    hist->add_option("--days", o->days, "days of history")->capture_default_str();
    hist->add_option("--elders", o->elders, "synthetic elders to add")->capture_default_str();
    hist->add_option("--seed", o->seed, "random seed (same seed, same history)")->capture_default_str();
    hist->add_option("--end", o->end, "YYYY-MM-DD: the history ends the day before (default: today)");
    hist->callback([&ctx, o] {
        guarded(ctx, [&]() -> int {
            OpenSite site(ctx.config_path);
            care::HistoryOptions h;
            h.days = o->days;
            h.elders = o->elders;
            h.seed = o->seed;
            h.now_ms = o->end.empty() ? now_ms()
                                      : care::day_start_ms(care::parse_date(o->end), site.cfg.site.timezone);
            std::cout << care::simulate_history(site.cfg, site.store, h).dump() << "\n";
            return 0;
        });
    });
}

}  // namespace caregate
