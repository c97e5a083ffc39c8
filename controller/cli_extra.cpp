// CLI commands beyond the foundation: staff accounts (and later face, sim, events, city).
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "config/config.hpp"
#include "controller/cli_commands.hpp"
#include "controller/core/store.hpp"
#include "controller/staff.hpp"

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
    auto* add = staff->add_subcommand("add", "create an account (the password is asked for, or read from stdin)");
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
                std::cout << m.username << "\t" << m.display_name << "\t" << m.role << (m.active ? "" : "\tdisabled")
                          << "\n";
            return 0;
        });
    });
}

}  // namespace

void register_extra_commands(CLI::App& app, CommandContext& ctx) { register_staff_commands(app, ctx); }

}  // namespace caregate
