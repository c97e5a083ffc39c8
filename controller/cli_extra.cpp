// CLI commands beyond the foundation: staff accounts (and later face, sim, events, city).
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <ctime>
#include <iostream>
#include <memory>

#include "config/config.hpp"
#include "controller/cctv_index.hpp"
#include "controller/cli_commands.hpp"
#include "controller/core/store.hpp"
#include "controller/staff.hpp"
#include "controller/core/log.hpp"
#include "controller/daemon.hpp"
#include "devices/simulator.hpp"

#include <signal.h>
#include <atomic>
#include <map>

namespace caregate {

namespace {

std::string read_password(bool from_stdin) {
    std::string pw;
    if (from_stdin || !isatty(STDIN_FILENO)) {
        std::getline(std::cin, pw);
        return pw;
    }
    termios old{};
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    std::cerr << "password: ";
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    std::getline(std::cin, pw);
    std::cerr << "\nagain: ";
    std::string again;
    std::getline(std::cin, again);
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
    if (again != pw) throw std::invalid_argument("the two passwords differ");
    return pw;
}

void register_staff_commands(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        std::string username, name, role = "staff";
        bool password_stdin = false;
    };
    auto o = std::make_shared<Opts>();
    auto* staff = app.add_subcommand("staff", "staff accounts for the kiosk");
    staff->require_subcommand(1);
    staff->add_option("--config,-c", ctx.config_path, "site config")->required();
    auto with_accounts = [&ctx](auto fn) {
        try {
            auto cfg = config::load_config(ctx.config_path);
            Store store(cfg.store.path, cfg.store.busy_timeout_ms);
            SystemClock clock;
            StaffAccounts accounts(store, clock);
            ctx.exit_code = fn(accounts);
        } catch (const config::ConfigError& e) {
            std::cerr << "caregate: " << e.what() << "\n";
            ctx.exit_code = 2;
        } catch (const std::exception& e) {
            std::cerr << "caregate: " << e.what() << "\n";
            ctx.exit_code = 1;
        }
    };
    auto* add =
        staff->add_subcommand("add", "create an account (the password is asked for, or read from stdin)");
    add->add_option("username", o->username)->required();
    add->add_option("--name", o->name, "display name, e.g. 王护士");
    add->add_option("--role", o->role, "staff or admin")->check(CLI::IsMember({"staff", "admin"}));
    add->add_flag("--password-stdin", o->password_stdin, "read the password from the first line of stdin");
    add->callback([o, with_accounts] {
        with_accounts([&](StaffAccounts& a) {
            auto m = a.add(o->username, o->name, o->role, read_password(o->password_stdin), "cli");
            std::cout << "created " << m.role << " account " << m.username << "\n";
            return 0;
        });
    });
    auto* passwd = staff->add_subcommand("passwd", "set a new password (also unlocks the account)");
    passwd->add_option("username", o->username)->required();
    passwd->add_flag("--password-stdin", o->password_stdin);
    passwd->callback([o, with_accounts] {
        with_accounts([&](StaffAccounts& a) {
            a.set_password(o->username, read_password(o->password_stdin), "cli");
            std::cout << "password changed for " << o->username << "\n";
            return 0;
        });
    });
    auto* list = staff->add_subcommand("list", "list accounts");
    list->callback([with_accounts] {
        with_accounts([&](StaffAccounts& a) {
            for (auto& m : a.list())
                std::cout << m.username << "\t" << m.display_name << "\t" << m.role
                          << (m.active ? "" : "\tdisabled") << "\n";
            return 0;
        });
    });
}

// "2026-11-24 14:02" or "2026-11-24" (site local time) or epoch ms → UTC ms.
int64_t parse_local_time(const std::string& s, int64_t offset_ms) {
    if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) return std::stoll(s);
    std::tm tm{};
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int n = std::sscanf(s.c_str(), "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &sec);
    if (n < 3) n = std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &sec);
    if (n < 3) throw std::invalid_argument("time '" + s + "' must look like 2026-11-24 14:02 (local time)");
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return int64_t(timegm(&tm)) * 1000 - offset_ms;
}

void register_event_commands(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        std::string camera, label, from, to;
        int64_t elder = 0, alarm = 0;
        int limit = 50;
        bool json = false;
    };
    auto o = std::make_shared<Opts>();
    auto* events = app.add_subcommand("events", "search the CCTV event index");
    events->require_subcommand(1);
    events->add_option("--config,-c", ctx.config_path, "site config")->required();
    auto* list = events->add_subcommand("list", "events, newest first");
    list->add_option("--camera", o->camera);
    list->add_option("--label", o->label, "motion, person or face");
    list->add_option("--from", o->from, "local time, e.g. '2026-11-24 14:00'");
    list->add_option("--to", o->to, "local time");
    list->add_option("--elder", o->elder, "elder id");
    list->add_option("--near-alarm", o->alarm, "events around this alarm");
    list->add_option("--limit", o->limit);
    list->add_flag("--json", o->json, "one JSON object per line");
    list->callback([&ctx, o] {
        try {
            auto cfg = config::load_config(ctx.config_path);
            Store store(cfg.store.path, cfg.store.busy_timeout_ms);
            SystemClock clock;
            EventIndex index(store, clock, cfg.cctv, cfg.store.media_dir);
            std::vector<nlohmann::json> rows;
            if (o->alarm) {
                rows = index.near_alarm(o->alarm, 5 * 60 * 1000, cfg);
            } else {
                EventQuery q;
                q.camera = o->camera;
                q.label = o->label;
                if (o->elder) q.elder_id = o->elder;
                int64_t off = 8LL * 3600 * 1000;
                if (!o->from.empty()) q.from_ms = parse_local_time(o->from, off);
                if (!o->to.empty()) q.to_ms = parse_local_time(o->to, off);
                q.limit = o->limit;
                rows = index.query(q);
            }
            for (auto& r : rows) {
                if (o->json) {
                    std::cout << r.dump() << "\n";
                } else {
                    time_t t = static_cast<time_t>(r["start_ts"].get<int64_t>() / 1000 + 8 * 3600);
                    std::tm tm{};
                    gmtime_r(&t, &tm);
                    char buf[32];
                    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
                    std::cout << r["id"] << "  " << buf << "  " << r["camera_id"].get<std::string>() << "  "
                              << r["label"].get<std::string>() << "  "
                              << (r["snapshot"].is_null() ? "-" : r["snapshot"].get<std::string>()) << "\n";
                }
            }
            ctx.exit_code = 0;
        } catch (const config::ConfigError& e) {
            std::cerr << "caregate: " << e.what() << "\n";
            ctx.exit_code = 2;
        } catch (const std::exception& e) {
            std::cerr << "caregate: " << e.what() << "\n";
            ctx.exit_code = 1;
        }
    });
}

void register_sim_command(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        std::string script;
        std::vector<std::string> rtu;
    };
    auto o = std::make_shared<Opts>();
    auto* sim = app.add_subcommand("sim", "simulate the site's devices (Modbus TCP/RTU servers, MQTT sensors)");
    sim->add_option("--config,-c", ctx.config_path, "site config")->required();
    sim->add_option("--script", o->script, "lines like 'at 2.0 press bath_call_1' (see devices/README.md)");
    sim->add_option("--rtu", o->rtu, "BUS=PTY: serve an RTU bus on this pty (the poller uses the other end)");
    sim->callback([&ctx, o] {
        try {
            auto cfg = config::load_config(ctx.config_path);
            init_logging(cfg.log.level);
            std::map<std::string, std::string> rtu;
            for (auto& r : o->rtu) {
                auto eq = r.find('=');
                if (eq == std::string::npos) throw std::invalid_argument("--rtu takes BUS=PTY, got '" + r + "'");
                rtu[r.substr(0, eq)] = r.substr(eq + 1);
            }
            block_signals();
            std::atomic<bool> stop{false};
            std::thread waiter([&stop] {
                sigset_t set;
                sigemptyset(&set);
                sigaddset(&set, SIGTERM);
                sigaddset(&set, SIGINT);
                int sig = 0;
                sigwait(&set, &sig);
                stop = true;
            });
            try {
                ctx.exit_code = devices::run_simulator(cfg, o->script, stop, rtu);
            } catch (...) {
                kill(getpid(), SIGTERM);  // release the waiter
                waiter.join();
                throw;
            }
            waiter.join();
        } catch (const config::ConfigError& e) {
            std::cerr << "caregate: " << e.what() << "\n";
            ctx.exit_code = 2;
        } catch (const std::exception& e) {
            std::cerr << "caregate: " << e.what() << "\n";
            ctx.exit_code = 1;
        }
    });
}

}  // namespace

void register_extra_commands(CLI::App& app, CommandContext& ctx) {
    register_sim_command(app, ctx);
    register_staff_commands(app, ctx);
    register_event_commands(app, ctx);
}

}  // namespace caregate
