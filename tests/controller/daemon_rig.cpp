#include "tests/controller/daemon_rig.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

namespace caregate::testing {

using nlohmann::json;

void DaemonRig::write_config(const std::string& body, const std::string& store_extra,
                             const std::string& kiosk_extra) {
    write_file(config_path(), "site: {id: rig, name: 测试中心}\nstore: {path: " + db_path() + store_extra +
                                  "}\nkiosk: {port: 0" + kiosk_extra + "}\n" + body);
}

void DaemonRig::start(const std::vector<std::string>& wrapper) {
    std::vector<std::string> argv = wrapper;
    for (const std::string& a : {caregate_bin(), std::string("run"), std::string("--config"), config_path()})
        argv.push_back(a);
    proc_ = std::make_unique<Process>(argv, log_path());
    port_ = kiosk_port(log_path());
    ASSERT_GT(port_, 0) << log();
}

int DaemonRig::stop() {
    if (!proc_) return -1;
    if (!proc_->running()) return proc_->wait(std::chrono::milliseconds(0));
    proc_->signal(SIGTERM);
    return proc_->wait(std::chrono::seconds(6));
}

std::string DaemonRig::cli(const std::string& args, int expect_rc) {
    std::string out;
    int rc = run(caregate_bin() + " " + args, &out);
    EXPECT_EQ(rc, expect_rc) << args << "\n" << out;
    return out;
}

int64_t DaemonRig::add_elder(const std::string& j) {
    std::string out = cli("elders --config " + config_path() + " add '" + j + "'");
    int64_t id = std::stoll(out);
    cli("elders --config " + config_path() + " consent " + std::to_string(id) + " --consent-by 李主任");
    return id;
}

std::string DaemonRig::query(const std::string& sql) const { return query_db(db_path(), sql); }

std::string query_db(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    std::string out;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK) {
            while (sqlite3_step(s) == SQLITE_ROW) {
                auto* t = sqlite3_column_text(s, 0);
                if (!out.empty()) out += ",";
                out += t ? reinterpret_cast<const char*>(t) : "NULL";
            }
            sqlite3_finalize(s);
        } else {
            out = std::string("SQL error: ") + sqlite3_errmsg(db);
        }
    }
    sqlite3_close(db);
    return out;
}

DaemonRig::Login DaemonRig::login(const std::string& user, const std::string& role) {
    const std::string password = user + "-password-1";
    if (query("SELECT COUNT(*) FROM staff WHERE username='" + user + "'") != "1") {
        std::string out;
        EXPECT_EQ(
            run("printf '%s\\n' '" + password + "' | " + caregate_bin() + " staff --config " + config_path() +
                    " add " + user + " --name 王护士 --role " + role + " --password-stdin",
                &out),
            0)
            << out;
    }
    httplib::Client c("127.0.0.1", port_);
    auto r =
        c.Post("/api/login", json{{"username", user}, {"password", password}}.dump(), "application/json");
    Login l;
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    if (!r || r->status != 200) return l;
    std::string set = r->get_header_value("Set-Cookie");
    l.cookie = set.substr(0, set.find(';'));
    l.csrf = json::parse(r->body)["csrf"];
    return l;
}

httplib::Result DaemonRig::get(const Login& l, const std::string& path) {
    httplib::Client c("127.0.0.1", port_);
    return c.Get(path, {{"Cookie", l.cookie}});
}

httplib::Result DaemonRig::post(const Login& l, const std::string& path, const json& body) {
    httplib::Client c("127.0.0.1", port_);
    return c.Post(path, {{"Cookie", l.cookie}, {"X-CSRF-Token", l.csrf}}, body.dump(), "application/json");
}

}  // namespace caregate::testing
