// The caregate daemon: builds every component from the site config, owns them, runs until
// SIGTERM/SIGINT, reloads what is safe on SIGHUP, and talks to systemd (READY, WATCHDOG, STOPPING).
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"

namespace caregate {

class Daemon {
public:
    explicit Daemon(config::SiteConfig cfg);
    ~Daemon();
    // Blocks until a stop signal; returns the process exit code. The caller must have blocked
    // SIGTERM, SIGINT and SIGHUP in every thread (block_signals()) before constructing the daemon.
    int run();

private:
    struct Parts;
    std::unique_ptr<Parts> p_;
};

// Blocks the daemon's signals so that only run() receives them (call before starting any thread).
void block_signals();

}  // namespace caregate
