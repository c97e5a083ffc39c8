// `caregate tls selfsigned|check`: the kiosk's HTTPS certificate for a new site, and a check of the
// pair a config names (the daemon runs the same check at start).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "config/config.hpp"
#include "controller/cli/cli_commands.hpp"
#include "controller/kiosk/tls_cert.hpp"

namespace caregate {

void register_tls_commands(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        std::string cert, key;
        tls::SelfSignedOptions self;
    };
    auto o = std::make_shared<Opts>();
    o->self.hosts.clear();
    auto* tls = app.add_subcommand("tls", "the kiosk's HTTPS certificate");
    tls->require_subcommand(1);
    auto* make =
        tls->add_subcommand("selfsigned", "make a P-256 key and a self-signed certificate for this box");
    make->add_option("--cert", o->cert, "certificate to write (PEM), e.g. /etc/caregate/kiosk.crt")
        ->required();
    make->add_option("--key", o->key, "private key to write (PEM, mode 0600)")->required();
    make->add_option("--host", o->self.hosts, "a name or address staff reach the box by (repeat)")
        ->required();
    make->add_option("--days", o->self.days, "validity")->capture_default_str();
    make->callback([&ctx, o] {
        guarded(ctx, [&]() -> int {
            tls::write_self_signed(o->cert, o->key, o->self);
            auto info = tls::check_pair(o->cert, o->key);
            std::cout << o->cert << ": ";
            for (auto& n : info.names) std::cout << n << " ";
            std::cout << "(valid until " << info.not_after << ")\n"
                      << o->key << ": private key, mode 0600\n"
                      << "Browsers will warn until the certificate is trusted on each staff device.\n";
            return 0;
        });
    });
    auto* check = tls->add_subcommand("check", "check the certificate and key a site config names");
    check->add_option("--config,-c", ctx.config_path)->required();
    check->callback([&ctx] {
        guarded(ctx, [&]() -> int {
            auto cfg = config::load_config(ctx.config_path);
            if (!cfg.kiosk.https()) {
                std::cout << "kiosk: plain HTTP on " << cfg.kiosk.bind << " (no tls_cert_file)\n";
                return 0;
            }
            auto info = tls::check_pair(cfg.kiosk.tls_cert_file, cfg.kiosk.tls_key_file);
            std::cout << cfg.kiosk.tls_cert_file << ": ";
            for (auto& n : info.names) std::cout << n << " ";
            std::cout << "(valid until " << info.not_after << ")" << (info.expired ? " EXPIRED" : "") << "\n";
            return info.expired ? 1 : 0;
        });
    });
}

}  // namespace caregate
