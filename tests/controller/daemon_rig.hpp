// The real daemon as the behaviour tests drive it: a site config of the test's own in a temp folder,
// `caregate run` as a child process (optionally behind a wrapper such as `env VAR=…`), the kiosk on
// a port of the kernel's choosing, staff logins, the CLI, and read-only queries on the store.
#pragma once

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/test_support.hpp"

namespace caregate::testing {

// One-column answers of `sql` on the SQLite file at `path`, rows joined by ',' (read-only).
std::string query_db(const std::string& path, const std::string& sql);

class DaemonRig {
public:
    DaemonRig() = default;
    ~DaemonRig() { stop(); }
    TempDir dir;
    std::string config_path() const { return dir.file("site.yaml"); }
    std::string db_path() const { return dir.file("cg.db"); }
    std::string log_path() const { return dir.file("log"); }
    std::string log() const { return read_file(log_path()); }
    // The site "rig": `body` follows the lines for site, store (cg.db here, then `store_extra`, e.g.
    // ", media_dir: …") and kiosk (port 0, then `kiosk_extra`).
    void write_config(const std::string& body, const std::string& store_extra = "",
                      const std::string& kiosk_extra = "");
    // Starts `caregate run` (after `wrapper`, e.g. {"env", "NOTIFY_SOCKET=…"}); waits for the kiosk.
    void start(const std::vector<std::string>& wrapper = {});
    int stop();  // SIGTERM; the exit code (-1 when it did not stop within 6 s)
    Process& process() { return *proc_; }
    int port() const { return port_; }

    // `caregate ARGS` (the config is not added); the output, with the exit code checked to be 0.
    std::string cli(const std::string& args, int expect_rc = 0);
    int64_t add_elder(const std::string& json);  // elders add, with consent recorded
    // One-column answers joined by ',' (read-only beside the running daemon).
    std::string query(const std::string& sql) const;

    struct Login {
        std::string cookie, csrf;
    };
    // Creates the account if needed (staff add) and logs in through the kiosk.
    Login login(const std::string& user = "nurse", const std::string& role = "staff");
    httplib::Result get(const Login& l, const std::string& path);
    httplib::Result post(const Login& l, const std::string& path, const nlohmann::json& body);

private:
    std::unique_ptr<Process> proc_;
    int port_ = -1;
};

}  // namespace caregate::testing
